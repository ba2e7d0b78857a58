//! The sandbox's init: the first process of ours inside, started by `bwrap` as
//! `BINARY __sandbox-init [--gateway PORT=SOCKET] [--processes N] [--file-bytes B]
//! [--writable DIR]… [--report] -- PROGRAM ARGS…`.
//!
//! It sets the limits `setrlimit` can hold (file size always; processes only when no cgroup
//! holds them — then per user: the factory adds to the cap how many the user already runs,
//! which only it can count, from outside the PID namespace), makes itself undumpable (no
//! process inside can read its memory or its descriptors), relays `127.0.0.1:PORT` inside
//! to the bridge's Unix socket, starts the [`super::watch`]er, installs the kernel
//! [`super::layers`] (seccomp, then Landlock with the `--writable` folders) on its main
//! thread, runs the program with `/dev/null` as its input, and exits with its exit code (or
//! 128 + the signal that ended it, as a shell reports it). With `--report`, its own
//! standard input is the pipe its reports go to. It runs no async runtime: a few threads,
//! one per relayed connection direction and one for the watcher.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;

use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};

use super::watch::{Context, Reporter};

/// What the init was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitArgs {
    pub gateway: Option<(u16, PathBuf)>,
    pub processes: Option<u64>,
    pub file_bytes: Option<u64>,
    /// Writable folders besides the always writable ones (Landlock's rules).
    pub writable: Vec<PathBuf>,
    /// Standard input is the pipe to report to.
    pub report: bool,
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// Parse the arguments after [`super::INIT_ARG`].
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<InitArgs, String> {
    let mut it = args.into_iter();
    let mut out = InitArgs {
        gateway: None,
        processes: None,
        file_bytes: None,
        writable: Vec::new(),
        report: false,
        program: OsString::new(),
        args: Vec::new(),
    };
    let number = |v: Option<OsString>, flag: &str| -> Result<u64, String> {
        v.and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("{flag} needs a number"))
    };
    loop {
        let Some(a) = it.next() else {
            return Err("no program after `--`".into());
        };
        match a.to_str() {
            Some("--gateway") => {
                let v = it.next().ok_or("--gateway needs PORT=SOCKET")?;
                let v = v.to_str().ok_or("--gateway is not UTF-8")?;
                let (port, socket) = v.split_once('=').ok_or("--gateway needs PORT=SOCKET")?;
                let port = port.parse().map_err(|_| "--gateway needs a port number")?;
                out.gateway = Some((port, PathBuf::from(socket)));
            }
            Some("--processes") => out.processes = Some(number(it.next(), "--processes")?),
            Some("--file-bytes") => out.file_bytes = Some(number(it.next(), "--file-bytes")?),
            Some("--writable") => {
                let dir = PathBuf::from(it.next().ok_or("--writable needs a folder")?);
                if !dir.is_absolute() {
                    return Err(format!(
                        "--writable needs an absolute folder, not {}",
                        dir.display()
                    ));
                }
                out.writable.push(dir);
            }
            Some("--report") => out.report = true,
            Some("--") => break,
            _ => return Err(format!("unknown argument {}", a.to_string_lossy())),
        }
    }
    out.program = it.next().ok_or("no program after `--`")?;
    out.args = it.collect();
    Ok(out)
}

/// Run as the init; returns the exit code to exit with.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nightshift sandbox: {e}");
            return 125;
        }
    };
    if let Some(bytes) = args.file_bytes {
        limit(Resource::Fsize, bytes, "file size");
    }
    if let Some(n) = args.processes {
        limit(Resource::Nproc, n, "processes");
    }
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        eprintln!("nightshift sandbox: cannot make the init undumpable: {e}");
        return 125;
    }
    let reporter = if args.report {
        match rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3) {
            Ok(fd) => Reporter::to(std::fs::File::from(fd)),
            Err(e) => {
                eprintln!("nightshift sandbox: cannot open the report pipe: {e}");
                return 125;
            }
        }
    } else {
        Reporter::default()
    };
    if let Some((port, socket)) = &args.gateway {
        match TcpListener::bind(("127.0.0.1", *port)) {
            Ok(listener) => {
                let socket = socket.clone();
                std::thread::spawn(move || relay(&listener, &socket));
            }
            Err(e) => {
                eprintln!("nightshift sandbox: cannot listen on 127.0.0.1:{port}: {e}");
                return 125;
            }
        }
    }
    let code = match confine(&args, &reporter) {
        Ok(_filter) => run(&args),
        Err(e) => {
            eprintln!("nightshift sandbox: {e}");
            125
        }
    };
    reporter.flush();
    code
}

/// Start the watcher, then install seccomp and Landlock on this thread; the filter must
/// live as long as the program runs.
fn confine(args: &InitArgs, reporter: &Reporter) -> Result<libseccomp::ScmpFilterContext, String> {
    let mut writable = args.writable.clone();
    writable.extend(super::layers::ALWAYS_WRITABLE.iter().map(PathBuf::from));
    let cx = Context {
        gateway_port: args.gateway.as_ref().map(|(port, _)| *port),
        bridge: args.gateway.as_ref().map(|(_, socket)| socket.clone()),
        writable: writable.clone(),
    };
    // Started before the filter, so that the watcher's thread is outside it.
    let (tx, rx) = std::sync::mpsc::channel();
    let watcher = reporter.clone();
    std::thread::spawn(move || {
        if let Ok(fd) = rx.recv() {
            super::watch::serve(fd, &cx, &watcher);
        }
    });
    let (filter, fd) = super::layers::seccomp()?;
    tx.send(fd)
        .map_err(|_| "the watcher did not start".to_owned())?;
    super::layers::landlock(&writable)?;
    Ok(filter)
}

/// Run the program to its end; its exit code.
fn run(args: &InitArgs) -> i32 {
    match std::process::Command::new(&args.program)
        .args(&args.args)
        .stdin(Stdio::null())
        .status()
    {
        Ok(status) => status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(125),
        Err(e) => {
            eprintln!(
                "nightshift sandbox: cannot start {}: {e}",
                args.program.to_string_lossy()
            );
            if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        }
    }
}

fn limit(resource: Resource, value: u64, what: &str) {
    let l = Rlimit {
        current: Some(value),
        maximum: Some(value),
    };
    if let Err(e) = setrlimit(resource, l) {
        eprintln!("nightshift sandbox: cannot limit {what}: {e}");
    }
}

/// Accept on `listener` forever; each connection is copied both ways to a new connection to
/// `socket`.
fn relay(listener: &TcpListener, socket: &std::path::Path) {
    for conn in listener.incoming().flatten() {
        let socket = socket.to_path_buf();
        std::thread::spawn(move || {
            let Ok(out) = UnixStream::connect(&socket) else {
                let _ = conn.shutdown(Shutdown::Both);
                return;
            };
            let (Ok(conn2), Ok(out2)) = (conn.try_clone(), out.try_clone()) else {
                return;
            };
            let up = std::thread::spawn(move || copy(conn, out, |o| o.shutdown(Shutdown::Write)));
            copy(out2, conn2, |c: &TcpStream| c.shutdown(Shutdown::Write));
            let _ = up.join();
        });
    }
}

fn copy<R: Read, W: Write>(mut from: R, mut to: W, close: impl Fn(&W) -> std::io::Result<()>) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = close(&to);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse_and_bad_ones_say_what_is_wrong() {
        let a = parse(os(&[
            "--gateway",
            "8080=/s/g.sock",
            "--processes",
            "64",
            "--file-bytes",
            "1024",
            "--writable",
            "/w",
            "--report",
            "--",
            "sh",
            "-c",
            "true",
        ]))
        .expect("parses");
        assert_eq!(a.gateway, Some((8080, PathBuf::from("/s/g.sock"))));
        assert_eq!((a.processes, a.file_bytes), (Some(64), Some(1024)));
        assert_eq!((a.writable, a.report), (vec![PathBuf::from("/w")], true));
        assert_eq!(a.program, "sh");
        assert_eq!(a.args, os(&["-c", "true"]));
        assert_eq!(
            parse(os(&["--processes", "x", "--", "sh"])),
            Err("--processes needs a number".into())
        );
        assert_eq!(parse(os(&["--"])), Err("no program after `--`".into()));
        assert_eq!(
            parse(os(&["--writable", "w", "--", "sh"])),
            Err("--writable needs an absolute folder, not w".into())
        );
        assert_eq!(
            parse(os(&["--nope", "--", "sh"])),
            Err("unknown argument --nope".into())
        );
    }
}
