//! The `run` tool: `sh -c COMMAND` in the worktree.
//!
//! The command gets no stdin (so it cannot wait on a prompt), an environment of only `PATH`,
//! `HOME` and `LANG` from this process plus the configured extra variables (never the gateway
//! token nor any provider key), and its own process group. Its stdout and stderr share one
//! pipe, so the output interleaves as a terminal would show it; only the head and the tail of
//! it are kept (at most `max_bytes` in all), however much it prints. When the command ends,
//! its process group is killed, so background processes it left do not outlive the tool call;
//! when it runs out of time, the group is killed at once.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::time::Instant;

/// The longest command line accepted, in bytes.
pub(crate) const MAX_COMMAND_LEN: usize = 16 * 1024;
/// How long the output pipe may stay open after the command's shell exits (background
/// processes still writing) before the group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long to drain the pipe after the group is killed.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// The variables passed through from this process.
const PASSED_THROUGH: [&str; 3] = ["PATH", "HOME", "LANG"];

/// How a command ended.
#[derive(Debug)]
pub(crate) struct CommandRun {
    /// The text for the model: how it ended and its output.
    pub text: String,
    /// The exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Whether it ran out of time.
    pub timed_out: bool,
}

/// Runs `command` in `root`.
pub(crate) async fn run(
    root: &Path,
    command: &str,
    timeout: Duration,
    extra_env: &[(String, String)],
    max_bytes: usize,
) -> Result<CommandRun, String> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| format!("cannot create the output pipe: {e}"))?;
    let writer_too = writer
        .try_clone()
        .map_err(|e| format!("cannot create the output pipe: {e}"))?;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(root)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer_too))
        .process_group(0)
        .kill_on_drop(true);
    for key in PASSED_THROUGH {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    let spawned = cmd.spawn();
    // The command holds our copies of the pipe's write end: without dropping it, the pipe
    // would never reach its end.
    drop(cmd);
    let mut child = spawned.map_err(|e| format!("cannot start `sh`: {e}"))?;
    let mut group = GroupGuard(child.id());
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(|e| format!("cannot read the output pipe: {e}"))?;

    let mut capture = Capture::new(max_bytes);
    let mut buf = vec![0u8; 8 * 1024];
    let deadline = Instant::now() + timeout;
    let mut status: Option<ExitStatus> = None;
    let mut eof = false;
    let mut grace = deadline;
    let mut timed_out = false;
    while !(eof && status.is_some()) {
        tokio::select! {
            read = pipe.read(&mut buf), if !eof => match read {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => capture.push(&buf[..n]),
            },
            waited = child.wait(), if status.is_none() => match waited {
                Ok(s) => {
                    status = Some(s);
                    grace = Instant::now() + EXIT_GRACE;
                }
                Err(e) => return Err(format!("cannot wait for the command: {e}")),
            },
            () = tokio::time::sleep_until(deadline), if status.is_none() => {
                timed_out = true;
                break;
            }
            () = tokio::time::sleep_until(grace), if status.is_some() => break,
        }
    }
    group.kill().await;
    if timed_out {
        if let Err(e) = child.start_kill() {
            tracing::debug!("cannot kill the command's shell: {e}");
        }
        match child.wait().await {
            Ok(s) => status = Some(s),
            Err(e) => tracing::debug!("cannot reap the command's shell: {e}"),
        }
    }
    if !eof {
        let drain_until = Instant::now() + DRAIN_GRACE;
        loop {
            tokio::select! {
                read = pipe.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => capture.push(&buf[..n]),
                },
                () = tokio::time::sleep_until(drain_until) => break,
            }
        }
    }

    let exit_code = if timed_out {
        None
    } else {
        status.and_then(|s| s.code())
    };
    let mut text = String::new();
    if timed_out {
        let _ = writeln!(
            text,
            "timed out after {} (the command and its process group were killed)",
            show_duration(timeout)
        );
    } else if let Some(code) = exit_code {
        let _ = writeln!(text, "exit code: {code}");
    } else {
        let signal = status.and_then(|s| {
            use std::os::unix::process::ExitStatusExt as _;
            s.signal()
        });
        match signal {
            Some(sig) => {
                let _ = writeln!(text, "killed by signal {sig}");
            }
            None => text.push_str("ended without an exit code\n"),
        }
    }
    capture.render_into(&mut text);
    Ok(CommandRun {
        text,
        exit_code,
        timed_out,
    })
}

/// `2s`, `1.5s`, `250ms`.
fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Kills the command's process group when dropped (the iteration was cancelled) or asked.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Kills the group now.
    async fn kill(&mut self) {
        let Some(pgid) = self.0.take() else { return };
        let result = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("kill -9 -{pgid} 2>/dev/null"))
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if let Err(e) = result {
            tracing::warn!(pgid, "cannot kill the command's process group: {e}");
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.0.take() else { return };
        let result = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("kill -9 -{pgid} 2>/dev/null"))
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = result {
            tracing::warn!(pgid, "cannot kill the command's process group: {e}");
        }
    }
}

/// The head and the tail of an output, within a byte budget.
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

impl Capture {
    fn new(max_bytes: usize) -> Self {
        let head_cap = max_bytes / 2;
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: max_bytes - head_cap,
            total: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    fn render_into(self, out: &mut String) {
        if self.total == 0 {
            out.push_str("(no output)");
            return;
        }
        let kept = (self.head.len() + self.tail.len()) as u64;
        let _ = writeln!(out, "output ({} bytes):", self.total);
        out.push_str(&String::from_utf8_lossy(&self.head));
        if self.total > kept {
            let _ = write!(out, "\n[... {} bytes omitted ...]\n", self.total - kept);
        }
        let (a, b) = self.tail.as_slices();
        if b.is_empty() {
            out.push_str(&String::from_utf8_lossy(a));
        } else {
            let mut joined = Vec::with_capacity(a.len() + b.len());
            joined.extend_from_slice(a);
            joined.extend_from_slice(b);
            out.push_str(&String::from_utf8_lossy(&joined));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(c: Capture) -> String {
        let mut s = String::new();
        c.render_into(&mut s);
        s
    }

    #[test]
    fn capture_keeps_head_and_tail() {
        let mut c = Capture::new(8);
        c.push(b"abc");
        assert_eq!(render(c), "output (3 bytes):\nabc");
        let mut c = Capture::new(8);
        c.push(b"0123");
        c.push(b"456");
        c.push(b"789abcdef");
        assert_eq!(
            render(c),
            "output (16 bytes):\n0123\n[... 8 bytes omitted ...]\ncdef"
        );
        let mut c = Capture::new(8);
        for b in b"0123456789" {
            c.push(&[*b]);
        }
        assert_eq!(
            render(c),
            "output (10 bytes):\n0123\n[... 2 bytes omitted ...]\n6789"
        );
        assert_eq!(render(Capture::new(8)), "(no output)");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
    }
}
