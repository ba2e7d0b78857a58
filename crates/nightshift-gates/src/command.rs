//! Command gates: `sh -c COMMAND` in the worktree, run by the one process supervisor
//! (`nightshift-process`): its environment policy, the job's tag, a time limit that kills
//! everything the command started, and its output kept within a budget while it is read.
//!
//! The gate passes when the shell exits with code 0. Its evidence is the tail of the output
//! (stdout and stderr as they interleaved).

use std::path::Path;
use std::time::Duration;

use nightshift_process::{Command, End, Sandbox};

use crate::result::{EXCERPT_MAX_BYTES, GateResult, tail_excerpt};

/// The most bytes of a gate's output kept: the first and the last half.
pub const OUTPUT_CAP_BYTES: usize = 2 * 1024 * 1024;

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

/// Run the gate in `dir`, its processes tagged `tag` (the job's), inside `sandbox` when
/// given, and judge it.
pub async fn run_command(
    dir: &Path,
    gate: &CommandGate,
    tag: &str,
    sandbox: Option<Sandbox>,
) -> GateResult {
    tracing::debug!(gate = %gate.name, command = %gate.command, dir = %dir.display(), "Command gate starting.");
    let mut cmd = Command::shell(&gate.command, dir)
        .tag(tag)
        .time_limit(gate.timeout);
    if let Some(sandbox) = sandbox {
        cmd = cmd.sandbox(sandbox);
    }
    let run = cmd.output(OUTPUT_CAP_BYTES).await;
    let result = match run {
        Ok(run) => {
            let (passed, exit_code, detail) = judge(gate, run.end);
            GateResult {
                gate: gate.name.clone(),
                passed,
                duration_ms: u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX),
                exit_code,
                timed_out: run.end == End::TimedOut,
                detail,
                excerpt: tail_excerpt(&run.output.text(), EXCERPT_MAX_BYTES),
                review: None,
            }
        }
        Err(e) => GateResult {
            gate: gate.name.clone(),
            passed: false,
            duration_ms: 0,
            exit_code: None,
            timed_out: false,
            detail: format!(
                "could not start `sh -c {}` in {}: {}",
                gate.command,
                dir.display(),
                e.source
            ),
            excerpt: String::new(),
            review: None,
        },
    };
    tracing::debug!(gate = %gate.name, passed = result.passed, exit_code = result.exit_code, timed_out = result.timed_out, duration_ms = result.duration_ms, "Command gate finished.");
    result
}

fn judge(gate: &CommandGate, end: End) -> (bool, Option<i32>, String) {
    let command = &gate.command;
    match end {
        End::Exited(0) => (true, Some(0), format!("`{command}` exited with code 0")),
        End::Exited(code) => (
            false,
            Some(code),
            format!("`{command}` exited with code {code}"),
        ),
        End::Signalled(signal) => (
            false,
            None,
            format!("`{command}` was killed by signal {signal}"),
        ),
        End::TimedOut => (
            false,
            None,
            format!(
                "`{command}` did not finish within {} and was killed with every process it started",
                human_duration(gate.timeout)
            ),
        ),
        // A gate has no silence limit and no line handler; kept exhaustive for the day it does.
        End::Silent | End::Stopped => (false, None, format!("`{command}` was stopped")),
        End::Lost => (
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }
}
