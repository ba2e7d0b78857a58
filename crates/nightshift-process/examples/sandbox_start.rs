//! What entering the sandbox costs per process start: `true` run N times plainly, under a
//! bare `bwrap` (bubblewrap's own floor), and in nightshift's full sandbox (the factory's
//! kind of policy: hidden folders, host sockets covered, a cgroup with process and memory
//! limits, the gateway relayed through our init). Prints a Markdown table. Used by
//! `bench/sandbox.sh`; not a test.
//!
//! `sandbox_start [N]` (default 200). The init is `nightshift-sandbox-init` beside this
//! binary's folder (`target/release/`).

#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nightshift_process::sandbox::{Bridge, Limits, Network, Policy, find_bwrap};
use nightshift_process::{Command, End, Sandbox};

fn stats(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(d[((d.len() as f64 - 1.0) * q).round() as usize]);
    (at(0.5), at(0.9), at(0.99))
}

async fn time(n: usize, make: impl Fn() -> Command) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let run = make().output(4096).await.expect("starts");
        assert_eq!(run.end, End::Exited(0), "{}", run.output.text());
        out.push(start.elapsed());
    }
    out
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let bwrap = find_bwrap().expect("bubblewrap is installed");
    let exe = std::env::current_exe().expect("exe");
    let init: PathBuf = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("nightshift-sandbox-init"))
        .expect("init");
    let work = tempfile::tempdir_in("/var/tmp").expect("work dir");
    let wt = work.path().join("worktrees/s/j");
    std::fs::create_dir_all(&wt).expect("worktree");
    std::fs::write(wt.join(".git"), "gitdir: /nowhere\n").expect(".git");
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = gateway.local_addr().expect("addr").port();
    let socket = work.path().join("gateway.sock");
    let _bridge = Bridge::start(&socket, ([127, 0, 0, 1], port).into()).expect("bridge");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let full = Sandbox::new(
        bwrap.clone(),
        init,
        Policy {
            writable: vec![wt.clone()],
            read_only: vec![wt.join(".git")],
            hidden: ["/root", "/home", "/run", "/mnt", "/media", "/srv"]
                .iter()
                .map(PathBuf::from)
                .chain([work.path().to_path_buf()])
                .collect(),
            hidden_files: Vec::new(),
            home: Some(home),
            env: Vec::new(),
            network: Network::Gateway { port, socket },
            limits: Limits {
                processes: Some(512),
                memory_bytes: Some(4096 << 20),
                file_bytes: Some(1024 << 20),
                tmp_bytes: Some(1024 << 20),
            },
        },
    );
    let bare = [
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "true",
    ];
    let plain = time(n, || Command::new("true", &wt)).await;
    let bwrap_only = time(n, || Command::new(&bwrap, &wt).args(bare)).await;
    let sandboxed = time(n, || Command::new("true", &wt).sandbox(full.clone())).await;
    let (p50, _, _) = stats(plain.clone());
    println!("| `true`, {n} starts | p50 ms | p90 ms | p99 ms | p50 × plain | added p50 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, d) in [
        ("plain (the supervisor, no sandbox)", plain),
        ("bare `bwrap --unshare-all --ro-bind / /`", bwrap_only),
        (
            "nightshift sandbox (policy, cgroup, init, bridge)",
            sandboxed,
        ),
    ] {
        let (a, b, c) = stats(d);
        println!(
            "| {name} | {a:.1} | {b:.1} | {c:.1} | {:.1}× | {:.1} |",
            a / p50,
            a - p50
        );
    }
}
