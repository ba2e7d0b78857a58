//! The `run` tool: `sh -c COMMAND` in the worktree, through the process supervisor
//! (`nightshift-process`): no stdin (so it cannot wait on a prompt), the standard
//! environment policy (never the gateway token nor any provider key) with the job's tag,
//! stdout and stderr in one pipe as a terminal would show them, only the head and the tail
//! kept (at most `max_bytes` in all), and when it ends or runs out of time everything it
//! started is killed, so background processes do not outlive the tool call.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use nightshift_process::{Captured, Command, End, Sandbox};

/// The longest command line accepted, in bytes.
pub(crate) const MAX_COMMAND_LEN: usize = 16 * 1024;

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

/// Why a command did not run.
#[derive(Debug)]
pub(crate) struct Failed {
    pub message: String,
    /// The sandbox could not be set up: not the command's fault, nor the model's.
    pub sandbox: bool,
}

/// Runs `command` in `root`, its processes tagged `tag` (the job's) when given.
pub(crate) async fn run(
    root: &Path,
    command: &str,
    timeout: Duration,
    tag: Option<&str>,
    sandbox: Option<Sandbox>,
    max_bytes: usize,
) -> Result<CommandRun, Failed> {
    let mut cmd = Command::shell(command, root).time_limit(timeout);
    if let Some(tag) = tag {
        cmd = cmd.tag(tag);
    }
    if let Some(sandbox) = sandbox {
        cmd = cmd.sandbox(sandbox);
    }
    let run = cmd.output(max_bytes).await.map_err(|e| Failed {
        message: e.to_string(),
        sandbox: e.sandbox,
    })?;
    let mut text = String::new();
    match run.end {
        End::Exited(code) => {
            let _ = writeln!(text, "exit code: {code}");
        }
        End::TimedOut => {
            let _ = writeln!(
                text,
                "timed out after {} (the command and its process group were killed)",
                show_duration(timeout)
            );
        }
        End::Signalled(sig) => {
            let _ = writeln!(text, "killed by signal {sig}");
        }
        End::Silent | End::Stopped | End::Lost => text.push_str("ended without an exit code\n"),
    }
    render_into(&run.output, &mut text);
    Ok(CommandRun {
        text,
        exit_code: run.end.code(),
        timed_out: run.end == End::TimedOut,
    })
}

/// `output (N bytes):` and the output, with what was dropped from its middle marked.
fn render_into(output: &Captured, out: &mut String) {
    if output.total() == 0 {
        out.push_str("(no output)");
        return;
    }
    let _ = writeln!(out, "output ({} bytes):", output.total());
    out.push_str(&output.text());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(c: &Captured) -> String {
        let mut s = String::new();
        render_into(c, &mut s);
        s
    }

    #[test]
    fn output_is_rendered_with_its_size_and_what_was_omitted() {
        let mut c = Captured::new(8);
        c.push(b"abc");
        assert_eq!(render(&c), "output (3 bytes):\nabc");
        let mut c = Captured::new(8);
        c.push(b"0123456789abcdef");
        assert_eq!(
            render(&c),
            "output (16 bytes):\n0123\n[... 8 bytes omitted ...]\ncdef"
        );
        assert_eq!(render(&Captured::new(8)), "(no output)");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
    }
}
