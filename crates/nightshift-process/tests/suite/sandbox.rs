//! The sandbox: real bubblewrap, our real init, real sockets and cgroups. Every folder a
//! test makes lies outside `/tmp` (the sandbox has a private one), under the target dir.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_process::sandbox::{Blocked, Bridge, Limits, Network, Policy, Seen, find_bwrap};
use nightshift_process::{Command, End, Run, Sandbox};

const INIT: &str = env!("CARGO_BIN_EXE_nightshift-sandbox-init");

fn bwrap() -> PathBuf {
    find_bwrap().expect("bubblewrap is installed (scripts/test.sh installs it)")
}

/// A factory-like layout: `work/` (hidden) holding the store and the worktree, a worktree
/// with a `.git` file, and `outside/`, neither hidden nor writable.
struct Place {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    wt: PathBuf,
    outside: PathBuf,
}

fn place() -> Place {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let work = tmp.path().join("work");
    let wt = work.join("worktrees/shift/job");
    let outside = tmp.path().join("outside");
    for d in [&wt, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(work.join("store.db"), "SECRET-STORE").unwrap();
    std::fs::write(wt.join(".git"), "gitdir: /elsewhere\n").unwrap();
    Place {
        _tmp: tmp,
        work,
        wt,
        outside,
    }
}

fn policy(p: &Place) -> Policy {
    Policy {
        writable: vec![p.wt.clone()],
        read_only: vec![p.wt.join(".git")],
        hidden: vec![p.work.clone()],
        ..Policy::default()
    }
}

fn sandbox(policy: Policy) -> Sandbox {
    Sandbox::new(bwrap(), INIT.into(), policy)
}

async fn run_in(sb: Sandbox, dir: &Path, script: &str) -> Run {
    Command::shell(script, dir)
        .sandbox(sb)
        .time_limit(Duration::from_secs(60))
        .output(64 * 1024)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_worktree_is_writable_and_the_rest_is_absent_or_read_only() {
    let p = place();
    let script = format!(
        "echo ok > made.txt; cat {store}; echo x > {outside}/f; echo y > .git; \
         echo z > /etc/nightshift-x; ls {work}/worktrees/shift; ls /root | wc -l; \
         echo tmp > /tmp/t && cat /tmp/t",
        store = p.work.join("store.db").display(),
        outside = p.outside.display(),
        work = p.work.display(),
    );
    let run = run_in(sandbox(policy(&p)), &p.wt, &script).await;
    let text = run.output.text();
    assert_eq!(run.end, End::Exited(0), "{text}");
    assert_eq!(
        std::fs::read_to_string(p.wt.join("made.txt")).unwrap(),
        "ok\n"
    );
    assert!(
        text.contains("store.db: No such file or directory"),
        "{text}"
    );
    assert!(!text.contains("SECRET-STORE"), "{text}");
    assert!(!p.outside.join("f").exists());
    assert_eq!(
        std::fs::read_to_string(p.wt.join(".git")).unwrap(),
        "gitdir: /elsewhere\n"
    );
    assert!(!Path::new("/etc/nightshift-x").exists());
    // The worktree is bound back inside the hidden folder, and nothing else is there.
    assert!(text.lines().any(|l| l == "job"), "{text}");
    assert!(text.lines().any(|l| l == "0"), "/root is empty: {text}");
    assert!(text.ends_with("tmp\n"), "{text}");
    assert_eq!(run.blocked, Vec::<Blocked>::new());
}

/// A loopback TCP server that counts the connections it accepts and answers `pong`.
fn server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"pong");
        }
    });
    (port, seen)
}

/// Connects to the gateway, to a server of its own, to the host's canary, to a port
/// nothing listens on, and out of the machine; prints what each answered.
const NET: &str = r#"
import socket, sys, threading
gateway, canary = int(sys.argv[1]), int(sys.argv[2])
def hit(addr):
    try:
        s = socket.create_connection(addr, timeout=5)
        s.sendall(b"ping")
        return s.recv(4).decode()
    except OSError as e:
        return "refused " + type(e).__name__
own = socket.socket()
own.bind(("127.0.0.1", 0))
own.listen(1)
def serve():
    c, _ = own.accept()
    c.recv(4)
    c.sendall(b"mine")
threading.Thread(target=serve, daemon=True).start()
print("gateway", hit(("127.0.0.1", gateway)))
print("own", hit(("127.0.0.1", own.getsockname()[1])))
print("canary", hit(("127.0.0.1", canary)))
print("nothing", hit(("127.0.0.1", 1)))
print("outside", hit(("10.255.255.1", 80)))
"#;

#[tokio::test]
async fn only_the_gateway_is_reachable_and_every_attempt_out_is_evidence() {
    let p = place();
    let (gateway, gateway_seen) = server();
    let (canary, canary_seen) = server();
    let socket = p.work.join("gateway.sock");
    let _bridge = Bridge::start(&socket, ([127, 0, 0, 1], gateway).into()).unwrap();
    let mut pol = policy(&p);
    pol.network = Network::Gateway {
        port: gateway,
        socket: socket.clone(),
    };
    std::fs::write(p.wt.join("net.py"), NET).unwrap();
    let run = run_in(
        sandbox(pol),
        &p.wt,
        &format!("python3 net.py {gateway} {canary}"),
    )
    .await;
    let text = run.output.text();
    assert_eq!(run.end, End::Exited(0), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "gateway pong",
            "own mine",
            "canary refused ConnectionRefusedError",
            "nothing refused ConnectionRefusedError",
            "outside refused OSError",
        ],
        "{text}"
    );
    assert_eq!(gateway_seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(canary_seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The gateway, the run's own server and a port nobody listens on are no evidence.
    let python = |to: String| Blocked::Connect {
        to,
        program: "python3".into(),
        count: 1,
    };
    assert_eq!(
        run.blocked,
        [
            python(format!("port {canary} of the host")),
            python("10.255.255.1:80 (outside the sandbox)".into()),
        ]
    );
}

/// Waits for the socket to appear, then connects to it.
const UNIX: &str = r#"
import os, socket, sys, time
for _ in range(200):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.05)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print("refused", type(e).__name__)
"#;

#[tokio::test]
async fn a_host_socket_bound_after_the_start_is_refused_and_is_evidence() {
    let p = place();
    let path = p.outside.join("late.sock");
    std::fs::write(p.wt.join("unix.py"), UNIX).unwrap();
    let script = format!("python3 unix.py {}", path.display());
    let bind = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let l = UnixListener::bind(&path).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    };
    let (run, listener) = tokio::join!(run_in(sandbox(policy(&p)), &p.wt, &script), bind);
    assert_eq!(run.output.text(), "refused ConnectionRefusedError\n");
    assert_host_socket_refused(&run, &listener, &path);
}

/// `listener` at `path` saw nothing, and the run's evidence is the one attempt at it.
fn assert_host_socket_refused(run: &Run, listener: &UnixListener, path: &Path) {
    assert!(
        listener.accept().is_err(),
        "the host socket saw a connection"
    );
    assert_eq!(
        run.blocked,
        [Blocked::Connect {
            to: format!("the host's socket {}", path.display()),
            program: "python3".into(),
            count: 1,
        }]
    );
}

#[tokio::test]
async fn a_unix_socket_of_the_host_is_out_of_reach() {
    let p = place();
    let path = p.outside.join("host.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let script = format!(
        "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{}\"); print(\"connected\")'",
        path.display()
    );
    let run = run_in(sandbox(policy(&p)), &p.wt, &script).await;
    let text = run.output.text();
    assert_ne!(run.end, End::Exited(0), "{text}");
    assert!(!text.contains("connected"), "{text}");
    assert_host_socket_refused(&run, &listener, &path);
}

#[tokio::test]
async fn the_sandbox_sees_only_its_own_processes_and_no_way_up() {
    let p = place();
    let mut canary = std::process::Command::new("sleep")
        .arg("299")
        .spawn()
        .unwrap();
    let me = std::process::id();
    let script = format!(
        "kill -9 {pid}; echo kill=$?; cat /proc/{me}/environ; echo environ=$?; \
         ls /proc | grep -c '^[0-9]'; unshare -r true; echo unshare=$?; \
         su -c true; echo su=$?; id -u",
        pid = canary.id(),
    );
    let run = run_in(sandbox(policy(&p)), &p.wt, &script).await;
    let text = run.output.text();
    assert!(
        run.blocked.contains(&Blocked::Syscall {
            call: "unshare".into(),
            program: "unshare".into(),
            count: 1
        }),
        "{:?}",
        run.blocked
    );
    assert!(text.contains("kill=1"), "{text}");
    assert!(text.contains("environ=1"), "{text}");
    assert!(text.contains("unshare=1"), "{text}");
    assert!(!text.contains("su=0"), "{text}");
    let procs: usize = text
        .lines()
        .find_map(|l| l.parse().ok())
        .expect("a process count");
    assert!(procs <= 6, "{procs} processes visible: {text}");
    assert_eq!(canary.try_wait().unwrap(), None, "the canary was killed");
    canary.kill().unwrap();
}

#[tokio::test]
async fn nothing_outlives_the_run() {
    let p = place();
    let run = run_in(
        sandbox(policy(&p)),
        &p.wt,
        "setsid sleep 300 & echo $! > pid; nohup sleep 301 >/dev/null 2>&1 & exit 0",
    )
    .await;
    assert_eq!(run.end, End::Exited(0));
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 30[01]"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout), "", "sleepers left");
}

const FORKS: &str = r#"
import os, time
refused = 0
kids = []
for _ in range(60):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(2)
        os._exit(0)
    kids.append(pid)
print("refused", refused)
for k in kids:
    os.waitpid(k, 0)
"#;

#[tokio::test]
async fn a_fork_bomb_stops_at_the_cap_and_each_refusal_is_counted() {
    let p = place();
    let mut pol = policy(&p);
    pol.limits = Limits {
        processes: Some(20),
        ..Limits::default()
    };
    std::fs::write(p.wt.join("forks.py"), FORKS).unwrap();
    let sb = sandbox(pol);
    let evidence = sb.evidence.clone();
    let run = run_in(sb, &p.wt, "python3 forks.py").await;
    let text = run.output.text();
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("refused ")?.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(refused >= 40, "{text}");
    assert_eq!(run.blocked, vec![Blocked::Processes { count: refused }]);
    assert_eq!(
        evidence.take(),
        vec![Seen {
            by: "python3 forks.py".into(),
            blocked: Blocked::Processes { count: refused }
        }]
    );
}

#[tokio::test]
async fn memory_past_the_cap_is_killed_and_counted() {
    let p = place();
    let mut pol = policy(&p);
    pol.limits.memory_bytes = Some(64 << 20);
    let run = run_in(
        sandbox(pol),
        &p.wt,
        "python3 -c 'b = bytearray(256 << 20); print(len(b))'",
    )
    .await;
    assert_ne!(run.end, End::Exited(0), "{}", run.output.text());
    assert_eq!(run.blocked, vec![Blocked::Memory { count: 1 }]);
}

#[tokio::test]
async fn a_file_past_the_size_limit_kills_the_writer() {
    let p = place();
    let mut pol = policy(&p);
    pol.limits.file_bytes = Some(1 << 20);
    let run = run_in(sandbox(pol), &p.wt, "head -c 3000000 /dev/zero > big").await;
    assert_eq!(run.end, End::Exited(153), "{}", run.output.text());
    assert_eq!(run.blocked, vec![Blocked::FileSize]);
    assert_eq!(std::fs::metadata(p.wt.join("big")).unwrap().len(), 1 << 20);
}

#[tokio::test]
async fn the_private_tmp_is_bounded() {
    let p = place();
    let mut pol = policy(&p);
    pol.limits.tmp_bytes = Some(1 << 20);
    let run = run_in(sandbox(pol), &p.wt, "head -c 3000000 /dev/zero > /tmp/big").await;
    assert_ne!(run.end, End::Exited(0));
    assert!(
        run.output.text().contains("No space left on device"),
        "{}",
        run.output.text()
    );
}

#[tokio::test]
async fn a_sandbox_that_cannot_be_set_up_is_a_failure_to_start_not_the_programs() {
    let p = place();
    let mut pol = policy(&p);
    pol.writable.push(p.work.join("no-such-folder"));
    let err = Command::shell("echo ran", &p.wt)
        .sandbox(sandbox(pol))
        .output(4096)
        .await
        .expect_err("the sandbox cannot start");
    assert!(err.sandbox, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the sandbox could not start: bwrap: ") && text.contains("no-such-folder"),
        "{text}"
    );
    // A program that merely fails is the program's result, not the sandbox's.
    let run = run_in(
        sandbox(policy(&p)),
        &p.wt,
        "echo 'bwrap: not really' >&2; exit 2",
    )
    .await;
    assert_eq!(run.end, End::Exited(2));
}

/// The init on its own, outside bubblewrap: its Landlock layer alone keeps writes inside
/// the writable folder, and its report pipe says what its seccomp layer refused.
#[test]
fn the_inits_own_layers_hold_without_bubblewrap() {
    let p = place();
    let (reader, writer) = std::io::pipe().unwrap();
    let out = std::process::Command::new(INIT)
        .arg("__sandbox-init")
        .args(["--writable".as_ref(), p.wt.as_os_str(), "--report".as_ref(), "--".as_ref()])
        .args(["sh", "-c"])
        .arg(format!(
            "echo in > in.txt; echo out > {}/out.txt; echo out=$?; unshare -r true; echo unshare=$?",
            p.outside.display()
        ))
        .current_dir(&p.wt)
        .stdin(writer)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "out=2\nunshare=1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(p.wt.join("in.txt")).unwrap(),
        "in\n"
    );
    assert!(!p.outside.join("out.txt").exists());
    let mut reports = String::new();
    let mut reader = reader;
    reader.read_to_string(&mut reports).unwrap();
    assert_eq!(reports, "syscall\t1\tunshare\tunshare\n");
}
