//! Command gates: `sh -c COMMAND` in the worktree, in its own process group, with a timeout that
//! kills the whole group, and output capped while it is read.
//!
//! How a run goes:
//! 1. `sh -c COMMAND` starts in `dir` with stdin from `/dev/null`, stdout and stderr piped, as
//!    the leader of a new process group (so everything it starts can be killed at once). With
//!    `clear_env` the environment is emptied first and only `PATH`, `HOME`, `LANG` and `TMPDIR`
//!    are kept; the given `env` is added either way.
//! 2. Both pipes are read as the output arrives, in chunks numbered in arrival order, so the
//!    captured text interleaves stdout and stderr roughly as they were written. Each stream keeps
//!    only its last [`OUTPUT_CAP_BYTES`], so a chatty command cannot exhaust memory.
//! 3. When the shell exits, what is left in the pipes is read for a short grace period; then the
//!    process group is killed, so no background child outlives its gate.
//! 4. When the timeout passes first, the whole group gets SIGKILL (`kill -KILL -- -PGID`), and
//!    the result says `timed_out`.
//! 5. When the future is dropped before it finished (the gate was cancelled), the group gets
//!    SIGKILL too.
//!
//! The gate passes when the shell exits with code 0.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::time::Instant;

use crate::result::{EXCERPT_MAX_BYTES, GateResult, tail_excerpt};

/// The most bytes kept from each of stdout and stderr: the last ones.
pub const OUTPUT_CAP_BYTES: usize = 1024 * 1024;

/// Variables kept when the environment is cleared.
const KEPT_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];

/// How long the output may keep coming after the shell exited, before the group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for the output to end after the group was killed.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);
/// How long to wait for the killed shell to be reaped.
const REAP_AFTER_KILL: Duration = Duration::from_secs(5);

/// A command the spec names as a gate (build, tests, lint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGate {
    pub name: String,
    /// Run with `sh -c`.
    pub command: String,
    pub timeout: Duration,
}

impl CommandGate {
    pub fn new(name: impl Into<String>, command: impl Into<String>, timeout: Duration) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            timeout,
        }
    }
}

/// What a command wrote, as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// stdout and stderr interleaved in arrival order (by chunk), lossily decoded as UTF-8; at
    /// most [`OUTPUT_CAP_BYTES`] of each stream, the last ones.
    pub text: String,
    /// Bytes the command wrote to stdout, kept or not.
    pub stdout_bytes: u64,
    /// Bytes the command wrote to stderr, kept or not.
    pub stderr_bytes: u64,
    /// Whether the start of either stream was dropped to stay under the cap.
    pub truncated: bool,
}

/// Run `sh -c command` in `dir` (see the module documentation) and judge it: pass = exit 0.
pub async fn run_command(
    dir: &Path,
    gate: &CommandGate,
    env: &[(String, String)],
    clear_env: bool,
) -> GateResult {
    run_command_with_output(dir, gate, env, clear_env).await.0
}

/// [`run_command`], also handing back the captured output (up to [`OUTPUT_CAP_BYTES`] per
/// stream) for a caller that stores whole logs.
pub async fn run_command_with_output(
    dir: &Path,
    gate: &CommandGate,
    env: &[(String, String)],
    clear_env: bool,
) -> (GateResult, CommandOutput) {
    let start = Instant::now();
    let deadline = start + gate.timeout;
    tracing::debug!(gate = %gate.name, command = %gate.command, dir = %dir.display(), "command gate starting");

    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&gate.command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if clear_env {
        cmd.env_clear();
        for key in KEPT_ENV {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));

    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(gate = %gate.name, error = %e, "command gate could not start");
            let result = GateResult {
                gate: gate.name.clone(),
                passed: false,
                duration_ms: elapsed_ms(start),
                exit_code: None,
                timed_out: false,
                detail: format!(
                    "could not start `sh -c {}` in {}: {e}",
                    gate.command,
                    dir.display()
                ),
                excerpt: String::new(),
                review: None,
            };
            return (result, CommandOutput::default());
        }
    };
    let pgid = child.id();
    // Should this future be dropped midway (the factory cancelled the gate), the group dies too.
    let mut guard = GroupGuard { pgid };
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out = Capture::default();
    let mut err = Capture::default();
    let seq = AtomicU64::new(0);

    // Phase 1: read both pipes until the shell exits or the deadline passes.
    let (status, mut drained) = {
        let reading = read_both(stdout.as_mut(), stderr.as_mut(), &mut out, &mut err, &seq);
        tokio::pin!(reading);
        let waiting = child.wait();
        tokio::pin!(waiting);
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        let mut drained = false;
        let status = loop {
            tokio::select! {
                status = &mut waiting => break Some(status),
                () = &mut reading, if !drained => drained = true,
                () = &mut sleep => break None,
            }
        };
        // The shell is gone: give what it (or a straggler) still writes a moment to arrive.
        if status.is_some() && !drained {
            let grace = (Instant::now() + EXIT_GRACE).min(deadline);
            drained = tokio::time::timeout_at(grace, &mut reading).await.is_ok();
        }
        (status, drained)
    };

    // Phase 2: kill the group, so no child outlives its gate (and on timeout, the shell too).
    let timed_out = status.is_none();
    if let Some(pgid) = pgid {
        if timed_out {
            tracing::warn!(gate = %gate.name, pgid, timeout_ms = gate.timeout.as_millis() as u64, "command gate timed out; killing its process group");
        }
        kill_process_group(pgid).await;
    }
    guard.disarm();
    let status = match status {
        Some(status) => Some(status),
        None => {
            if child.start_kill().is_err() {
                tracing::debug!(gate = %gate.name, "shell already gone");
            }
            match tokio::time::timeout(REAP_AFTER_KILL, child.wait()).await {
                Ok(status) => Some(status),
                Err(_) => {
                    tracing::warn!(gate = %gate.name, "killed shell was not reaped in time");
                    None
                }
            }
        }
    };
    if !drained {
        let reading = read_both(stdout.as_mut(), stderr.as_mut(), &mut out, &mut err, &seq);
        drained = tokio::time::timeout(DRAIN_AFTER_KILL, reading)
            .await
            .is_ok();
        if !drained {
            tracing::warn!(gate = %gate.name, "output pipes still open after the group was killed; giving up on them");
        }
    }

    let output = CommandOutput {
        stdout_bytes: out.total,
        stderr_bytes: err.total,
        truncated: out.dropped > 0 || err.dropped > 0,
        text: merge(out, err),
    };
    let (passed, exit_code, detail) = judge(gate, status, timed_out);
    let result = GateResult {
        gate: gate.name.clone(),
        passed,
        duration_ms: elapsed_ms(start),
        exit_code,
        timed_out,
        detail,
        excerpt: tail_excerpt(&output.text, EXCERPT_MAX_BYTES),
        review: None,
    };
    tracing::debug!(gate = %gate.name, passed, exit_code, timed_out, duration_ms = result.duration_ms, "command gate finished");
    (result, output)
}

fn judge(
    gate: &CommandGate,
    status: Option<std::io::Result<ExitStatus>>,
    timed_out: bool,
) -> (bool, Option<i32>, String) {
    let command = &gate.command;
    if timed_out {
        let limit = human_duration(gate.timeout);
        return (
            false,
            None,
            format!(
                "`{command}` did not finish within {limit} and was killed with its process group"
            ),
        );
    }
    match status {
        Some(Ok(status)) => match (status.code(), status.signal()) {
            (Some(0), _) => (true, Some(0), format!("`{command}` exited with code 0")),
            (Some(code), _) => (
                false,
                Some(code),
                format!("`{command}` exited with code {code}"),
            ),
            (None, Some(signal)) => (
                false,
                None,
                format!("`{command}` was killed by signal {signal}"),
            ),
            (None, None) => (
                false,
                None,
                format!("`{command}` ended without an exit code"),
            ),
        },
        Some(Err(e)) => (false, None, format!("could not wait for `{command}`: {e}")),
        None => (
            false,
            None,
            format!("`{command}` could not be reaped after it was killed"),
        ),
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// SIGKILL the process group `pgid`: `kill -KILL -- -PGID`, falling back to the shell's builtin.
/// A group that is already gone is not an error.
pub async fn kill_process_group(pgid: u32) {
    let target = format!("-{pgid}");
    let kill = tokio::process::Command::new("kill")
        .args(["-KILL", "--", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    match kill {
        // A non-zero status means the group was already gone: nothing left to kill.
        Ok(status) => tracing::trace!(pgid, ?status, "kill sent to process group"),
        Err(e) => {
            tracing::debug!(pgid, error = %e, "no kill binary; using the shell's builtin");
            let builtin = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(format!("kill -KILL -- {target}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            if let Err(e) = builtin {
                tracing::warn!(pgid, error = %e, "could not kill the process group");
            }
        }
    }
}

/// Kills the process group when dropped while armed: the cleanup for a cancelled gate.
struct GroupGuard {
    pgid: Option<u32>,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid.take() else { return };
        tracing::debug!(
            pgid,
            "command gate dropped before it finished; killing its process group"
        );
        // Blocking, but brief: `kill` returns at once.
        let killed = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = killed {
            tracing::warn!(pgid, error = %e, "could not kill the process group of a dropped gate");
        }
    }
}

/// One stream's kept output: the last [`OUTPUT_CAP_BYTES`], in numbered chunks.
#[derive(Default)]
struct Capture {
    chunks: VecDeque<(u64, Vec<u8>)>,
    kept: usize,
    total: u64,
    dropped: u64,
}

impl Capture {
    fn push(&mut self, seq: u64, data: &[u8]) {
        self.total += data.len() as u64;
        self.kept += data.len();
        self.chunks.push_back((seq, data.to_vec()));
        while self.kept > OUTPUT_CAP_BYTES {
            let excess = self.kept - OUTPUT_CAP_BYTES;
            let Some((_, front)) = self.chunks.front_mut() else {
                break;
            };
            if front.len() <= excess {
                let n = front.len();
                self.chunks.pop_front();
                self.kept -= n;
                self.dropped += n as u64;
            } else {
                front.drain(..excess);
                self.kept -= excess;
                self.dropped += excess as u64;
            }
        }
    }
}

/// Read both pipes to their end (cancel-safe: a dropped read loses no data).
async fn read_both<O, E>(
    stdout: Option<&mut O>,
    stderr: Option<&mut E>,
    out: &mut Capture,
    err: &mut Capture,
    seq: &AtomicU64,
) where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    tokio::join!(read_into(stdout, out, seq), read_into(stderr, err, seq));
}

async fn read_into<R: AsyncRead + Unpin>(
    reader: Option<&mut R>,
    capture: &mut Capture,
    seq: &AtomicU64,
) {
    let Some(reader) = reader else { return };
    let mut buf = vec![0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => capture.push(seq.fetch_add(1, Ordering::Relaxed), &buf[..n]),
            Err(e) => {
                tracing::debug!(error = %e, "reading command output failed");
                return;
            }
        }
    }
}

/// Both streams' chunks in arrival order, decoded lossily.
fn merge(out: Capture, err: Capture) -> String {
    let mut bytes = Vec::with_capacity(out.kept + err.kept);
    let mut a = out.chunks.into_iter().peekable();
    let mut b = err.chunks.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some((sa, _)), Some((sb, _))) => sa < sb,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b.next() };
        if let Some((_, chunk)) = next {
            bytes.extend_from_slice(&chunk);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_last_bytes() {
        let mut c = Capture::default();
        let chunk = vec![b'a'; 300 * 1024];
        for i in 0..5 {
            c.push(i, &chunk);
        }
        c.push(5, b"end");
        assert_eq!(c.kept, OUTPUT_CAP_BYTES);
        assert_eq!(c.total, 5 * 300 * 1024 + 3);
        assert_eq!(c.dropped, c.total - OUTPUT_CAP_BYTES as u64);
        let text = merge(c, Capture::default());
        assert!(text.ends_with("aend"));
        assert_eq!(text.len(), OUTPUT_CAP_BYTES);
    }

    #[test]
    fn merge_interleaves_by_arrival() {
        let mut out = Capture::default();
        let mut err = Capture::default();
        out.push(0, b"1");
        err.push(1, b"2");
        out.push(2, b"3");
        err.push(3, b"4");
        assert_eq!(merge(out, err), "1234");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }
}
