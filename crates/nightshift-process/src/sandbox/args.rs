//! The command line that starts a program in the sandbox: data in, arguments out.
//!
//! bubblewrap applies its mount arguments in order, so the order is the policy: the host's
//! root read-only first, then the private `/tmp`, `/dev` and `/proc`, then the hidden
//! folders (empty tmpfs, made read-only again at the very end, once everything that must
//! be bound inside them is), the writable worktree, what is read-only on top (the
//! worktree's `.git` file, toolchains under a hidden folder: shallowest first), the private
//! home, the covers over single files and host sockets, and last the bridge's socket.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{INIT_ARG, Network, Policy, Sandbox, Wrapped};

/// The namespaces and hardening every run gets.
const NAMESPACES: &[&str] = &[
    "--unshare-user",
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--unshare-net",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
];

/// Moves the shell into each cgroup whose `cgroup.procs` is named, then becomes the rest of
/// its arguments (bwrap), so that everything the run starts is counted from its first
/// process. `$1` is how many files follow.
const ENTER_CGROUPS: &str = r#"n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@""#;

struct Args(Vec<OsString>);

impl Args {
    fn flag(&mut self, f: &str) {
        self.0.push(f.into());
    }

    fn path(&mut self, flag: &str, p: &Path) {
        self.0.push(flag.into());
        self.0.push(p.into());
    }

    fn bind(&mut self, flag: &str, src: &Path, dest: &Path) {
        self.0.push(flag.into());
        self.0.push(src.into());
        self.0.push(dest.into());
    }

    fn sized_tmpfs(&mut self, size: Option<u64>, dest: &str) {
        if let Some(bytes) = size {
            self.0.push("--size".into());
            self.0.push(bytes.to_string().into());
        }
        self.path("--tmpfs", Path::new(dest));
    }
}

/// Whether `p` is `dir` or lies under it.
fn under(p: &Path, dir: &Path) -> bool {
    p.starts_with(dir)
}

/// The command line for `program args…` run in `cwd` inside `sandbox`, entering the cgroup
/// files `procs` first; `sockets` are the host's Unix socket paths to cover.
pub(crate) fn wrap(
    sandbox: &Sandbox,
    program: &OsString,
    args: &[OsString],
    cwd: &Path,
    procs: &[PathBuf],
    sockets: &[PathBuf],
) -> Wrapped {
    let mut a = mounts(&sandbox.policy, sockets);
    a.path("--chdir", cwd);
    environment(&mut a, &sandbox.policy);
    a.flag("--");
    init(&mut a, sandbox);
    a.0.push(program.clone());
    a.0.extend(args.iter().cloned());
    if procs.is_empty() {
        return Wrapped {
            program: sandbox.bwrap.clone().into(),
            args: a.0,
        };
    }
    let mut args: Vec<OsString> = vec!["-c".into(), ENTER_CGROUPS.into(), "sh".into()];
    args.push(procs.len().to_string().into());
    args.extend(procs.iter().map(|p| p.clone().into_os_string()));
    args.push(sandbox.bwrap.clone().into());
    args.extend(a.0);
    Wrapped {
        // Not looked up in `PATH`: its entries may be relative, and the worktree is the
        // working folder.
        program: "/bin/sh".into(),
        args,
    }
}

/// The namespaces and the mounts, in the order that makes the policy (the module's doc).
fn mounts(p: &Policy, sockets: &[PathBuf]) -> Args {
    let mut a = Args(Vec::new());
    for f in NAMESPACES {
        a.flag(f);
    }
    a.bind("--ro-bind", Path::new("/"), Path::new("/"));
    a.path("--dev", Path::new("/dev"));
    a.path("--proc", Path::new("/proc"));
    a.sized_tmpfs(p.limits.tmp_bytes, "/tmp");
    a.sized_tmpfs(p.limits.tmp_bytes, "/dev/shm");
    let hidden = outermost(&p.hidden);
    for dir in &hidden {
        a.path("--tmpfs", dir);
    }
    for dir in &p.writable {
        a.bind("--bind", dir, dir);
    }
    let mut read_only: Vec<&PathBuf> = p.read_only.iter().filter(|r| r.exists()).collect();
    read_only.sort_by_key(|r| r.components().count());
    for path in read_only {
        a.bind("--ro-bind", path, path);
    }
    if let Some(home) = &p.home {
        a.bind("--bind", home, home);
    }
    let bridge = match &p.network {
        Network::Gateway { socket, .. } => Some(socket.as_path()),
        Network::None => None,
    };
    // A file under a hidden folder needs no cover, unless a folder bound back on top
    // brings it into view again (a credential file in a toolchain's home).
    let bound_back = |f: &Path| p.read_only.iter().chain(&p.writable).any(|b| under(f, b));
    let covers = p.hidden_files.iter().chain(sockets).filter(|f| {
        f.is_absolute()
            && f.exists()
            && Some(f.as_path()) != bridge
            && !under(f, Path::new("/tmp"))
            && !under(f, Path::new("/proc"))
            && !under(f, Path::new("/dev"))
            && (!hidden.iter().any(|d| under(f, d)) || bound_back(f))
            && p.home.as_ref().is_none_or(|h| !under(f, h))
    });
    for file in covers {
        a.bind("--ro-bind", Path::new("/dev/null"), file);
    }
    if let Some(socket) = bridge {
        a.bind("--ro-bind", socket, socket);
    }
    for dir in &hidden {
        a.path("--remount-ro", dir);
    }
    a
}

/// The hidden folders that exist, each once; one under another is hidden with it (and is
/// no mount of its own to make read-only again).
fn outermost(hidden: &[PathBuf]) -> Vec<&PathBuf> {
    let mut dirs: Vec<&PathBuf> = hidden.iter().filter(|d| d.is_dir()).collect();
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && under(d, o)));
    dirs
}

/// `HOME`, `TMPDIR` and the policy's variables, set inside.
fn environment(a: &mut Args, p: &Policy) {
    if let Some(home) = &p.home {
        a.flag("--setenv");
        a.flag("HOME");
        a.0.push(home.into());
    }
    a.flag("--setenv");
    a.flag("TMPDIR");
    a.flag("/tmp");
    for (k, v) in &p.env {
        a.flag("--setenv");
        a.0.push(k.clone());
        a.0.push(v.clone());
    }
}

/// Our init and its arguments, up to the `--` before the program.
fn init(a: &mut Args, sandbox: &Sandbox) {
    let p = &sandbox.policy;
    a.0.push(sandbox.init.clone().into());
    a.flag(INIT_ARG);
    if let Network::Gateway { port, socket } = &p.network {
        a.flag("--gateway");
        let mut spec = OsString::from(format!("{port}="));
        spec.push(socket);
        a.0.push(spec);
    }
    if let Some(n) = p.limits.processes {
        a.flag("--processes");
        a.flag(&n.to_string());
    }
    if let Some(b) = p.limits.file_bytes {
        a.flag("--file-bytes");
        a.flag(&b.to_string());
    }
    for dir in p.writable.iter().chain(&p.home) {
        a.path("--writable", dir);
    }
    a.flag("--report");
    a.flag("--");
}

/// The Unix socket paths bound on this host (`/proc/net/unix`, the last column of each line
/// that has one; abstract sockets, `@…`, belong to the network namespace and stay out of
/// reach on their own).
pub(crate) fn host_sockets() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/net/unix") else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(7))
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Limits;

    fn strings(w: &Wrapped) -> Vec<String> {
        std::iter::once(&w.program)
            .chain(&w.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn position(all: &[String], needle: &[&str]) -> usize {
        all.windows(needle.len())
            .position(|w| w.iter().zip(needle).all(|(a, b)| a == b))
            .unwrap_or_else(|| panic!("{needle:?} not in {all:?}"))
    }

    #[test]
    fn mounts_come_in_the_order_that_makes_the_policy() {
        // Not under /tmp: the sandbox has a private one, and covers nothing there.
        let tmp = tempfile::tempdir_in("/var/tmp").expect("tmp");
        let root = tmp.path();
        let work = root.join("work");
        let wt = work.join("worktrees/s/j");
        std::fs::create_dir_all(&wt).expect("mkdir");
        std::fs::write(wt.join(".git"), "gitdir: x").expect("write");
        let sock = work.join("scratch/gateway.sock");
        let (host_sock, secret) = (root.join("x.sock"), root.join("nightshift.toml"));
        // A toolchain in a hidden home, bound back, with a credential file in it.
        let cargo = work.join("home/.cargo");
        std::fs::create_dir_all(&cargo).expect("mkdir");
        let credentials = cargo.join("credentials.toml");
        std::fs::write(&credentials, "token").expect("write");
        std::fs::write(&host_sock, "").expect("write");
        std::fs::write(&secret, "").expect("write");
        let sandbox = Sandbox::new(
            "/usr/bin/bwrap".into(),
            "/bin/nightshift".into(),
            Policy {
                writable: vec![wt.clone()],
                read_only: vec![wt.join(".git"), cargo.clone()],
                hidden: vec![work.clone(), root.join("absent"), wt.clone(), work.clone()],
                hidden_files: vec![secret.clone(), "relative.toml".into(), credentials.clone()],
                home: None,
                env: vec![("CARGO_TARGET_DIR".into(), "/t".into())],
                network: Network::Gateway {
                    port: 8080,
                    socket: sock.clone(),
                },
                limits: Limits {
                    processes: Some(64),
                    memory_bytes: None,
                    file_bytes: Some(1024),
                    tmp_bytes: Some(4096),
                },
            },
        );
        let w = wrap(
            &sandbox,
            &"sh".into(),
            &["-c".into(), "true".into()],
            &wt,
            &[],
            &[sock.clone(), host_sock.clone(), root.join("gone.sock")],
        );
        let all = strings(&w);
        assert_eq!(all[0], "/usr/bin/bwrap");
        let s = |p: &Path| p.display().to_string();
        let hide = position(&all, &["--tmpfs", &s(&work)]);
        let bind = position(&all, &["--bind", &s(&wt), &s(&wt)]);
        let git = position(&all, &["--ro-bind", &s(&wt.join(".git"))]);
        let cover = position(&all, &["--ro-bind", "/dev/null", &s(&host_sock)]);
        position(&all, &["--ro-bind", "/dev/null", &s(&secret)]);
        let rebound = position(&all, &["--ro-bind", &s(&cargo), &s(&cargo)]);
        assert!(rebound < position(&all, &["--ro-bind", "/dev/null", &s(&credentials)]));
        let bridge = position(&all, &["--ro-bind", &s(&sock), &s(&sock)]);
        let ro = position(&all, &["--remount-ro", &s(&work)]);
        // Hidden once, the folder under it not again.
        assert_eq!(all.iter().filter(|a| **a == s(&work)).count(), 2, "{all:?}");
        assert!(!all.windows(2).any(|w| w[0] == "--tmpfs" && w[1] == s(&wt)));
        assert!(hide < bind && bind < git && git < cover && cover < bridge && bridge < ro);
        assert!(position(&all, &["--size", "4096", "--tmpfs", "/tmp"]) < hide);
        // The bridge's own socket is not covered; a folder or file that does not exist, or a
        // relative path, is skipped.
        assert!(!all.iter().any(|a| a == &s(&root.join("absent"))));
        assert_eq!(
            all.iter().filter(|a| a.as_str() == "/dev/null").count(),
            3,
            "{all:?}"
        );
        position(
            &all,
            &[
                "--setenv",
                "TMPDIR",
                "/tmp",
                "--setenv",
                "CARGO_TARGET_DIR",
                "/t",
            ],
        );
        let tail = &all[position(&all, &["--", "/bin/nightshift"])..];
        assert_eq!(
            tail,
            [
                "--",
                "/bin/nightshift",
                INIT_ARG,
                "--gateway",
                &format!("8080={}", s(&sock)),
                "--processes",
                "64",
                "--file-bytes",
                "1024",
                "--writable",
                &s(&wt),
                "--report",
                "--",
                "sh",
                "-c",
                "true"
            ]
        );
    }

    #[test]
    fn cgroups_are_entered_by_a_shell_before_bwrap() {
        let sandbox = Sandbox::new("/b/bwrap".into(), "/bin/ns".into(), Policy::default());
        let w = wrap(
            &sandbox,
            &"true".into(),
            &[],
            Path::new("/"),
            &["/cg/a/cgroup.procs".into(), "/cg/b/cgroup.procs".into()],
            &[],
        );
        let all = strings(&w);
        assert_eq!(
            &all[..7],
            [
                "/bin/sh",
                "-c",
                ENTER_CGROUPS,
                "sh",
                "2",
                "/cg/a/cgroup.procs",
                "/cg/b/cgroup.procs"
            ]
        );
        assert_eq!(all[7], "/b/bwrap");
    }
}
