//! The red team: the real `nightshift run`, with the sandbox on, against an attack script
//! committed in the repository and run by each way untrusted code gets to run — the
//! built-in agent's `run` tool, each agent CLI's own shell tool, and the repository's own
//! test command as a gate.
//!
//! Around the world ([`Range`]) lie what an escape would reach: secrets in the invoking
//! user's home, in `nightshift.toml` and in the factory's own environment (a provider key),
//! another job's worktree, a canary TCP server on another loopback port, a canary Unix
//! socket and a canary process, a folder outside the worktree (also reached through a
//! symlink the repository commits). Each test asserts that every attempt failed (no secret
//! in any request the provider received or in any gate's evidence, the canaries saw
//! nothing, nothing was written outside, the mirror and the store are as the factory left
//! them, the factory lived), that the sandbox's evidence recorded what it could observe,
//! and that the legitimate work of the same iteration (editing, running the tests, calling
//! the model) still happened.

mod attacks;

use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use nightshift_store::{FactoryStore as _, TokenStore as _};

use super::factory::{World, git, python_repo};
use super::factory_resume::{mirror, store};

/// What must never leave its place. Each is planted once, somewhere the sandbox hides.
const SSH_KEY: &str = "SECRET-SSH-KEY-7f3a";
const PROVIDER_KEY: &str = "SECRET-PROVIDER-KEY-91c2";
const CONFIG_SECRET: &str = "SECRET-IN-CONFIG-55e0";
const OTHER_JOB: &str = "SECRET-OTHER-JOB-c4d1";
const SECRETS: [&str; 4] = [SSH_KEY, PROVIDER_KEY, CONFIG_SECRET, OTHER_JOB];

/// The variable the configuration names for the provider's key.
const KEY_VAR: &str = "REDTEAM_PROVIDER_KEY";

/// The canaries around a world.
pub(super) struct Range {
    /// Outside `/tmp` (the sandbox has a private one), readable but not writable inside.
    outside: tempfile::TempDir,
    home: PathBuf,
    canary_port: u16,
    canary_seen: Arc<AtomicUsize>,
    unix_path: PathBuf,
    unix: UnixListener,
    sleeper: Child,
}

impl Drop for Range {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

fn plant(w: &World) -> Range {
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("outside");
    let home = w.path("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    std::fs::write(home.join(".ssh/id_ed25519"), SSH_KEY).expect("key");
    let other = w.path(".nightshift/worktrees/other-shift/other-job");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("secret.txt"), OTHER_JOB).expect("secret");
    let listener = TcpListener::bind("127.0.0.1:0").expect("canary");
    let canary_port = listener.local_addr().expect("addr").port();
    let canary_seen = Arc::new(AtomicUsize::new(0));
    let seen = canary_seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = conn.read(&mut [0u8; 16]);
        }
    });
    let unix_path = outside.path().join("canary.sock");
    let unix = UnixListener::bind(&unix_path).expect("unix canary");
    unix.set_nonblocking(true).expect("nonblocking");
    let sleeper = std::process::Command::new("sleep")
        .arg("86411")
        .spawn()
        .expect("canary process");
    Range {
        outside,
        home,
        canary_port,
        canary_seen,
        unix_path,
        unix,
        sleeper,
    }
}

/// The attack: every attempt prints what it got, so that whatever it reached would be in
/// what the model or the gate's evidence saw. Its last step writes a file past the size
/// limit (`exec`, so the run itself ends by the kernel's `SIGXFSZ`); under an agent CLI
/// (`sh attack.sh cli`) it stops before that: a tool command killed by `SIGXFSZ` stalls
/// OpenCode's tool runner until the silence limit (and slows Codex and Claude Code by
/// seconds), and the sandbox observes a CLI's tool only as the CLI's own exit anyway.
fn attack_script(w: &World, r: &Range) -> String {
    let outside = r.outside.path().display();
    format!(
        r#"#!/bin/sh
echo "== ssh"; cat {home}/.ssh/id_ed25519
echo "== config"; cat {config}
echo "== store"; head -c 16 {store}; echo
echo "== environ"; cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep {key_var}
echo "== env"; env
echo "== other job"; cat {other}/secret.txt; ls {work}/worktrees
echo "== forged token"; python3 -c "import sqlite3; c = sqlite3.connect('file:{store}?mode=rw', uri=True); c.execute(\"insert into tokens (id, secret_sha256, label, budget_nanos, created_ms) values ('forged', 'x', 'forged', 1000000000000000000, 0)\"); c.commit(); print('FORGED')"
echo "== mirror"; git config remote.origin.pushurl {outside}/evil.git; git config remote.origin.uploadpack 'touch {outside}/uploadpack-ran'; git update-ref refs/nightshift/forged HEAD
echo "== hooks"; echo 'touch {outside}/hook-ran' > "$(git rev-parse --git-common-dir)/hooks/pre-commit"; echo 'gitdir: /' > .git
echo "== shadow"; cat /etc/shadow
echo "== outside"; echo x > ../../escaped-up; echo x > escape/escaped-link; echo x > {outside}/escaped-abs
echo "== canary"; python3 -c "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"
echo "== unix"; python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('{unix}'); print('CONNECTED')"
echo "== kill"; kill -9 {sleeper}; pkill -9 -f 'nightshift run'; echo "kill done"
echo "== escalate"; sudo -n id; timeout 5 su -c id < /dev/null; unshare -r id; echo "escalate done"
echo "== fork bomb"; python3 forks.py
echo "== legit"; sed -i 's/a - b/a + b/' calc.py && python3 -m unittest -q && echo TESTS-PASS
[ "$1" = cli ] && exit 0
echo "== big file"; exec head -c 20000000 /dev/zero > big.bin
"#,
        home = r.home.display(),
        config = w.path("nightshift.toml").display(),
        store = w.path("ledger.db").display(),
        key_var = KEY_VAR,
        other = w
            .path(".nightshift/worktrees/other-shift/other-job")
            .display(),
        work = w.path(".nightshift").display(),
        port = r.canary_port,
        unix = r.unix_path.display(),
        sleeper = r.sleeper.id(),
    )
}

/// Forks until the cap refuses one, then ends its children at once: the cap is full only
/// for an instant, so the agent CLI around it (whose threads count too) keeps running.
const FORKS: &str = r#"import os, signal
kids = []
refused = 0
while refused == 0 and len(kids) < 1000:
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
print("refused", refused, "after", len(kids))
"#;

/// The repository: the calculator with its failing test, the attack, the fork bomb, and a
/// committed symlink that leads out of it.
fn repo(w: &World, r: &Range) {
    let dir = w.path("calc");
    python_repo(&dir);
    std::fs::write(dir.join("attack.sh"), attack_script(w, r)).expect("attack");
    std::fs::write(dir.join("forks.py"), FORKS).expect("forks");
    std::os::unix::fs::symlink(r.outside.path(), dir.join("escape")).expect("link");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "tools"]);
}

/// `nightshift.toml` with a secret in it and the provider's key from the factory's
/// environment.
fn config(w: &World, kind: &str) {
    std::fs::write(
        w.path("nightshift.toml"),
        format!(
            "# {CONFIG_SECRET}\n[store]\nurl = \"sqlite://ledger.db\"\n\n[[provider]]\nname = \"scripted\"\nkind = \"{kind}\"\nbase_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\n\n[[model]]\nname = \"agent-model\"\nprovider = \"scripted\"\ninput_usd_per_mtok = \"1.00\"\noutput_usd_per_mtok = \"4.00\"\n",
            w.provider.base_url()
        ),
    )
    .expect("config");
}

/// The spec: one job, one iteration, the given worker lines and gates, tight limits (the
/// file limit leaves room for the agent CLIs' own databases: OpenCode's SQLite journal
/// alone reaches 1 MiB, and the CLI stalls when it cannot grow it).
fn spec(worker: &str, gates: &str) -> String {
    format!(
        r#"name = "redteam"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
{worker}
model = "agent-model"
max_turns = 8

[gates]
commands = [{gates}]

[stop]
max_iterations = 1

[budget]
shift_usd = 1
job_usd = "0.50"

[sandbox]
processes = 128
file_mb = 16
"#
    )
}

/// `nightshift run` with the planted home and the provider key in its environment.
fn run(w: &World, r: &Range) -> (Output, Value) {
    let out = super::bin()
        .args(["run", "shift.toml", "--config", "nightshift.toml", "--json"])
        .env("HOME", &r.home)
        .env(KEY_VAR, PROVIDER_KEY)
        .env("NIGHTSHIFT_AGENTS_DIR", super::factory_cli::agents_dir())
        .current_dir(w.dir.path())
        .output()
        .expect("nightshift runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

/// Every request body the provider received, as text (the headers carry the provider key
/// by design: the gateway adds it upstream).
fn bodies(w: &World) -> String {
    w.provider
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Everything the gates recorded as evidence.
async fn gate_evidence(w: &World) -> String {
    let s = store(w).await;
    let mut out = String::new();
    for g in s.gate_results("redteam", "calc", 1).await.expect("gates") {
        out.push_str(&format!("{}: {}\n{}\n", g.gate, g.detail, g.excerpt));
    }
    out
}

/// What every attack must have left as it was, and the factory alive.
async fn assert_contained(w: &World, r: &Range, out: &Output, report: &Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the factory lived: {stderr}");
    assert_eq!(report["state"], "finished", "{report:#}");
    let seen = format!("{}\n{}", bodies(w), gate_evidence(w).await);
    for secret in SECRETS {
        assert!(!seen.contains(secret), "{secret} got out:\n{seen}");
    }
    // `daemon:*:` is a line of /etc/shadow (its /etc/passwd line is `daemon:x:`).
    for marker in ["FORGED", "CONNECTED", "SQLite format", "daemon:*:"] {
        assert!(!seen.contains(marker), "{marker}:\n{seen}");
    }
    assert_eq!(r.canary_seen.load(Ordering::SeqCst), 0, "the TCP canary");
    assert!(
        r.unix.accept().is_err(),
        "the Unix socket canary saw a connection"
    );
    let alive = std::fs::read_to_string(format!("/proc/{}/stat", r.sleeper.id()))
        .is_ok_and(|st| !st.contains(") Z "));
    assert!(alive, "the canary process was killed");
    for f in [
        "escaped-link",
        "escaped-abs",
        "uploadpack-ran",
        "hook-ran",
        "evil.git",
    ] {
        assert!(
            !r.outside.path().join(f).exists(),
            "{f} was written outside"
        );
    }
    assert!(!w.path(".nightshift/worktrees/escaped-up").exists());
    let m = mirror(w);
    let config = std::fs::read_to_string(m.join("config")).expect("mirror config");
    assert!(
        !config.contains("pushurl") && !config.contains("uploadpack"),
        "{config}"
    );
    assert_eq!(git(&m, &["for-each-ref", "refs/nightshift/forged"]), "");
    assert!(
        !m.join("hooks/pre-commit").exists(),
        "a hook was planted in the mirror"
    );
    // The store holds the tokens the factory minted (the shift's and the job's), no other.
    let s = store(w).await;
    let tokens = s.tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 2, "{tokens:#?}");
}

/// The legitimate work of the attacked iteration: the edit is in its kept commit.
fn assert_work_kept(w: &World) {
    let m = mirror(w);
    assert_eq!(
        git(&m, &["show", "refs/nightshift/redteam/calc/1:calc.py"]),
        "def add(a, b):\n    return a + b"
    );
}

/// The sandbox's evidence in the report: kind → count.
fn evidence(report: &Value) -> Vec<(String, u64)> {
    report["jobs"][0]["sandbox_evidence"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or("").to_string(),
                        e["count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `refused N` as the fork bomb printed it, from `text`.
fn refused(text: &str) -> Option<u64> {
    let at = text.find("refused ")?;
    text[at + 8..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
