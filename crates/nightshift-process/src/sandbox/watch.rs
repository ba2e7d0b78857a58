//! The init's watcher: answers the system calls the seccomp layer sends it
//! ([`super::layers`]), and reports what it refused to the factory ([`super::report`]).
//!
//! - A `connect` (or `sendto` with an address) to loopback goes through: to the gateway's
//!   port or to a port something inside listens on, silently; to any other port it is
//!   reported (the factory tells a port of its host from an ordinary refusal). To any
//!   other address it goes through too — the empty network namespace has no route — and is
//!   reported.
//! - A `connect` to a Unix socket that exists outside the run's writable folders (and is
//!   not the bridge's) is a socket of the host bound where the sandbox can see it, after
//!   the run started; one to a cover (`/dev/null` bound over a socket the host had bound
//!   before, or over a hidden file) is an attempt at one. Both are refused with
//!   `ECONNREFUSED` (what the kernel says to a cover too) and reported.
//! - Every [`super::layers::REFUSED`] call is refused with `EPERM` and reported.
//!
//! The watcher reads the caller's arguments from its memory after the kernel stopped it,
//! so a second thread of the caller can change them before the call goes on: what is let
//! through is what the namespaces allow anyway, and a refusal is never weaker than them.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::os::unix::fs::{FileExt as _, FileTypeExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall, notify_id_valid};

use super::report::{Attempt, Report};

/// Where reports go, and what has been reported (clones share both).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reporter(Arc<Mutex<Reported>>);

#[derive(Debug, Default)]
struct Reported {
    out: Option<File>,
    /// Per attempt and program: how many, and how many the last line said.
    seen: HashMap<(Attempt, String), (u64, u64)>,
}

impl Reporter {
    pub(crate) fn to(out: File) -> Self {
        Self(Arc::new(Mutex::new(Reported {
            out: Some(out),
            seen: HashMap::new(),
        })))
    }

    /// Count `attempt` by `program`; a line goes out at 1, 2, 4, 8 … of them.
    pub(crate) fn saw(&self, attempt: Attempt, program: &str) {
        let Ok(mut r) = self.0.lock() else { return };
        let entry = r
            .seen
            .entry((attempt.clone(), program.to_owned()))
            .or_default();
        entry.0 += 1;
        let count = entry.0;
        if count.is_power_of_two() {
            entry.1 = count;
            r.write(&Report {
                attempt,
                count,
                program: program.to_owned(),
            });
        }
    }

    /// Send the counts that grew since their last line.
    pub(crate) fn flush(&self) {
        let Ok(mut r) = self.0.lock() else { return };
        let pending: Vec<Report> = r
            .seen
            .iter_mut()
            .filter(|(_, (count, said))| count != said)
            .map(|((attempt, program), (count, said))| {
                *said = *count;
                Report {
                    attempt: attempt.clone(),
                    count: *count,
                    program: program.clone(),
                }
            })
            .collect();
        for report in &pending {
            r.write(report);
        }
    }
}

impl Reported {
    fn write(&mut self, report: &Report) {
        if let Some(out) = &mut self.out {
            let mut line = report.line();
            line.push('\n');
            // One write per line: a pipe keeps it whole.
            if out.write_all(line.as_bytes()).is_err() {
                self.out = None;
            }
        }
    }
}

/// What the watcher needs to know of the run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The gateway's port inside, if any.
    pub gateway_port: Option<u16>,
    /// The bridge's socket, which programs may reach directly.
    pub bridge: Option<PathBuf>,
    /// Folders whose sockets belong to the run.
    pub writable: Vec<PathBuf>,
}

/// Answer notifications on `fd` until it closes.
pub(crate) fn serve(fd: RawFd, cx: &Context, reporter: &Reporter) {
    let connect = ScmpSyscall::from_name("connect").ok();
    let sendto = ScmpSyscall::from_name("sendto").ok();
    loop {
        let req = match ScmpNotifReq::receive(fd) {
            Ok(r) => r,
            // The caller died while waiting: nothing to answer.
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::ENOENT) => continue,
            // Never given up on: a caller left unanswered would wait for ever.
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let call = Some(req.data.syscall);
        let answer = if call == connect || call == sendto {
            let (ptr, len) = if call == connect {
                (req.data.args[1], req.data.args[2])
            } else {
                (req.data.args[4], req.data.args[5])
            };
            match read_address(req.pid, ptr, len) {
                // Read while the caller was stopped: it is still the same caller.
                Some(dest) if notify_id_valid(fd, req.id).is_ok() => {
                    let (attempt, verdict) = judge(&dest, cx);
                    if let Some(a) = attempt {
                        reporter.saw(a, &program(req.pid));
                    }
                    verdict
                }
                _ => Verdict::Continue,
            }
        } else {
            let name = req.data.syscall.get_name().unwrap_or_else(|_| "?".into());
            reporter.saw(Attempt::Syscall(name), &program(req.pid));
            Verdict::Refuse(libc::EPERM)
        };
        let resp = match answer {
            Verdict::Continue => ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()),
            Verdict::Refuse(errno) => {
                ScmpNotifResp::new_error(req.id, -errno, ScmpNotifRespFlags::empty())
            }
        };
        let _ = resp.respond(fd);
    }
}

/// Let the call go on, or fail it with an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Continue,
    Refuse(i32),
}

/// Where a `connect` leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    Inet(IpAddr, u16),
    /// A Unix socket's path (relative ones resolved against the caller's folder).
    Unix(PathBuf),
    /// An abstract Unix socket, unnamed, or another family: the run's own.
    Other,
}

/// The address at `ptr` in process `pid`'s memory, `len` bytes of it.
fn read_address(pid: u32, ptr: u64, len: u64) -> Option<Dest> {
    let len = usize::try_from(len).ok()?.min(128);
    let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; len];
    let n = mem.read_at(&mut buf, ptr).ok()?;
    buf.truncate(n);
    let mut dest = parse_sockaddr(&buf)?;
    if let Dest::Unix(p) = &dest
        && p.is_relative()
    {
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        dest = Dest::Unix(cwd.join(p));
    }
    Some(dest)
}

/// A `struct sockaddr` as the kernel takes it (family in native order, port in network
/// order).
pub(crate) fn parse_sockaddr(b: &[u8]) -> Option<Dest> {
    let family = i32::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?]));
    let port = || Some(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
    match family {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(Dest::Inet(IpAddr::V4(Ipv4Addr::from(a)), port()?))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(Dest::Inet(IpAddr::V6(Ipv6Addr::from(a)), port()?))
        }
        libc::AF_UNIX => {
            let path = b.get(2..).unwrap_or_default();
            if path.first().is_none_or(|c| *c == 0) {
                return Some(Dest::Other);
            }
            let end = path.iter().position(|c| *c == 0).unwrap_or(path.len());
            let path: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(&path[..end]);
            Some(Dest::Unix(PathBuf::from(path)))
        }
        _ => Some(Dest::Other),
    }
}

/// Whether `ip` means this machine (inside: the sandbox's own loopback).
fn is_local(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified()
}

/// What `dest` is, and what to do with the call.
pub(crate) fn judge(dest: &Dest, cx: &Context) -> (Option<Attempt>, Verdict) {
    match dest {
        Dest::Inet(ip, port) if is_local(*ip) => {
            if Some(*port) == cx.gateway_port || listening(Path::new("/proc/net"), *port) {
                (None, Verdict::Continue)
            } else {
                (Some(Attempt::Loopback(*port)), Verdict::Continue)
            }
        }
        Dest::Inet(ip, port) => {
            let to = match ip {
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                IpAddr::V4(v4) => format!("{v4}:{port}"),
            };
            (Some(Attempt::Outside(to)), Verdict::Continue)
        }
        Dest::Unix(path) => {
            let ours = cx.writable.iter().any(|w| path.starts_with(w))
                || cx.bridge.as_deref() == Some(path.as_path());
            if !ours && (is_socket(path) || is_cover(path)) {
                let p = path.to_string_lossy().into_owned();
                (
                    Some(Attempt::HostSocket(p)),
                    Verdict::Refuse(libc::ECONNREFUSED),
                )
            } else {
                (None, Verdict::Continue)
            }
        }
        Dest::Other => (None, Verdict::Continue),
    }
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Whether `path` is one of the covers the mounts put over a host's socket (or a hidden
/// file): `/dev/null` bound in its place.
fn is_cover(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let null = Path::new("/dev/null");
    path != null
        && std::fs::metadata(path).is_ok_and(|m| {
            m.file_type().is_char_device()
                && std::fs::metadata(null).is_ok_and(|n| n.rdev() == m.rdev())
        })
}

/// Whether a TCP socket listens on `port`, or a UDP socket is bound to it, in the network
/// namespace whose `/proc/net` is `net`.
pub(crate) fn listening(net: &Path, port: u16) -> bool {
    let hex = format!(":{port:04X}");
    let tcp = |f: &str| -> bool {
        std::fs::read_to_string(net.join(f)).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let mut cols = l.split_whitespace();
                let local = cols.nth(1).unwrap_or_default();
                let state = cols.nth(1).unwrap_or_default();
                local.ends_with(&hex) && (state == "0A" || f.starts_with("udp"))
            })
        })
    };
    ["tcp", "tcp6", "udp", "udp6"].into_iter().any(tcp)
}

/// The calling program's name (`comm`).
fn program(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(a: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(a);
        b.extend([0u8; 8]);
        b
    }

    fn unix(path: &[u8]) -> Vec<u8> {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend(path);
        b
    }

    #[test]
    fn addresses_read_as_the_kernel_takes_them() {
        assert_eq!(
            parse_sockaddr(&inet([10, 1, 2, 3], 443)),
            Some(Dest::Inet("10.1.2.3".parse().unwrap(), 443))
        );
        let mut v6 = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        v6.extend(53u16.to_be_bytes());
        v6.extend([0u8; 4]);
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        assert_eq!(
            parse_sockaddr(&v6),
            Some(Dest::Inet("::1".parse().unwrap(), 53))
        );
        assert_eq!(
            parse_sockaddr(&unix(b"/run/x.sock\0junk")),
            Some(Dest::Unix("/run/x.sock".into()))
        );
        assert_eq!(parse_sockaddr(&unix(b"\0abstract")), Some(Dest::Other));
        assert_eq!(parse_sockaddr(&inet([1, 2, 3, 4], 1)[..6]), None);
        assert_eq!(parse_sockaddr(&[1]), None);
    }

    #[test]
    fn outside_addresses_and_strange_loopback_ports_are_reported_and_the_gateway_is_not() {
        let cx = Context {
            gateway_port: Some(8080),
            bridge: Some("/w/gateway.sock".into()),
            writable: vec!["/w/tree".into(), "/tmp".into()],
        };
        let local = Dest::Inet("127.0.0.1".parse().unwrap(), 8080);
        assert_eq!(judge(&local, &cx), (None, Verdict::Continue));
        let mapped = Dest::Inet("::ffff:127.0.0.1".parse().unwrap(), 8080);
        assert_eq!(judge(&mapped, &cx), (None, Verdict::Continue));
        // Port 1 (tcpmux) listens nowhere here.
        let other = Dest::Inet("127.0.0.1".parse().unwrap(), 1);
        assert_eq!(
            judge(&other, &cx),
            (Some(Attempt::Loopback(1)), Verdict::Continue)
        );
        let out = Dest::Inet("2001:db8::1".parse().unwrap(), 443);
        assert_eq!(
            judge(&out, &cx),
            (
                Some(Attempt::Outside("[2001:db8::1]:443".into())),
                Verdict::Continue
            )
        );
        // A socket that does not exist fails on its own; one in the run's folders is its own.
        let absent = Dest::Unix("/nonexistent/x.sock".into());
        assert_eq!(judge(&absent, &cx), (None, Verdict::Continue));
    }

    #[test]
    fn a_host_socket_is_refused_and_one_of_the_run_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut cx = Context::default();
        let dest = Dest::Unix(path.clone());
        assert_eq!(
            judge(&dest, &cx),
            (
                Some(Attempt::HostSocket(path.display().to_string())),
                Verdict::Refuse(libc::ECONNREFUSED)
            )
        );
        cx.writable.push(dir.path().to_path_buf());
        assert_eq!(judge(&dest, &cx), (None, Verdict::Continue));
    }

    #[test]
    fn a_listening_port_is_found_in_proc_net() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening(Path::new("/proc/net"), port));
        drop(l);
        assert!(!listening(Path::new("/proc/net"), port));
    }

    #[test]
    fn counts_are_reported_at_powers_of_two_and_the_rest_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports");
        let r = Reporter::to(File::create(&path).unwrap());
        for _ in 0..5 {
            r.saw(Attempt::Syscall("ptrace".into()), "gdb");
        }
        r.saw(Attempt::Loopback(9), "curl");
        r.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let counts: Vec<(String, u64)> = text
            .lines()
            .map(|l| {
                let r = Report::parse(l).unwrap();
                (r.program, r.count)
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("gdb".into(), 1),
                ("gdb".into(), 2),
                ("gdb".into(), 4),
                ("curl".into(), 1),
                ("gdb".into(), 5)
            ]
        );
    }
}
