//! Workers: what runs one iteration in a worktree. The built-in agent, any command, and the
//! external agent CLIs (Codex, Claude Code, OpenCode; see `external`). A worker gets the
//! gateway's address and the job's token, never a provider key.

use std::path::Path;
use std::time::Duration;

use nightshift_spec::{JobSpec, WorkerKind};
use nightshift_store::WorkerStop;

/// How a worker's iteration ended, as the stop rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEnd {
    /// The worker finished its iteration; `claims_done` asks the gates to verify the task.
    Finished {
        summary: String,
        claims_done: bool,
        notes: Option<String>,
    },
    /// The gateway refused a call: the budget is spent.
    Budget { message: String },
    /// The worker failed (its model calls, its process, its turn limit).
    Failed { message: String },
    /// The model repeated the same failing tool call until the agent stopped it.
    Thrashing { message: String },
}

impl WorkerEnd {
    /// How it ended, as the iteration records it.
    pub fn stop(&self) -> WorkerStop {
        match self {
            Self::Finished {
                claims_done: true, ..
            } => WorkerStop::ClaimsDone,
            Self::Finished { .. } => WorkerStop::Finished,
            Self::Budget { .. } => WorkerStop::Budget,
            Self::Failed { .. } => WorkerStop::Failed,
            Self::Thrashing { .. } => WorkerStop::Thrashing,
        }
    }
}

/// What a worker needs for one iteration.
pub struct IterationInput<'a> {
    pub job: &'a JobSpec,
    pub worktree: &'a Path,
    pub gateway_v1: &'a str,
    pub token: &'a str,
    pub notes: &'a str,
    /// The repository map of the tree at the iteration's start, if known.
    pub repo_map: Option<&'a str>,
    pub n: u32,
    pub time_limit: Duration,
    /// The job's scratch space, outside the worktree: worker homes go here.
    pub scratch: &'a Path,
    /// The job's sandbox (`None`: the sandbox is off).
    pub kit: Option<&'a crate::sandbox::Kit>,
}

impl IterationInput<'_> {
    /// The gateway's base URL as the worker's processes reach it: through the sandbox's
    /// bridge when there is one.
    pub fn inside_v1(&self) -> &str {
        self.kit.map_or(self.gateway_v1, |k| k.v1.as_str())
    }
}

/// What a worker reports beside how it ended.
#[derive(Debug, Default)]
pub struct WorkerReport {
    /// An agent CLI's own usage figures for the iteration (the ledger's are what count).
    pub reported_usage: Option<nightshift_workers::Usage>,
}

/// The agent CLI a worker kind runs, if it runs one.
pub fn cli(kind: WorkerKind) -> Option<nightshift_workers::Cli> {
    match kind {
        WorkerKind::Codex => Some(nightshift_workers::Cli::Codex),
        WorkerKind::ClaudeCode => Some(nightshift_workers::Cli::ClaudeCode),
        WorkerKind::Opencode => Some(nightshift_workers::Cli::Opencode),
        WorkerKind::Builtin | WorkerKind::Command => None,
    }
}

/// Run one iteration; `report` is filled in as the worker can.
pub async fn run(
    input: IterationInput<'_>,
    on_event: &mut (dyn FnMut(String) + Send),
    report: &mut WorkerReport,
) -> WorkerEnd {
    *report = WorkerReport::default();
    match input.job.worker {
        WorkerKind::Builtin => builtin(input, on_event).await,
        WorkerKind::Command => command(input).await,
        WorkerKind::Codex => {
            crate::external::run(nightshift_workers::Cli::Codex, input, on_event, report).await
        }
        WorkerKind::ClaudeCode => {
            crate::external::run(nightshift_workers::Cli::ClaudeCode, input, on_event, report).await
        }
        WorkerKind::Opencode => {
            crate::external::run(nightshift_workers::Cli::Opencode, input, on_event, report).await
        }
    }
}

async fn builtin(
    input: IterationInput<'_>,
    on_event: &mut (dyn FnMut(String) + Send),
) -> WorkerEnd {
    let mut cfg =
        nightshift_agent::AgentConfig::new(input.gateway_v1, input.token, &input.job.model);
    cfg.max_turns = input.job.max_turns;
    cfg.command_timeout = input.time_limit.min(Duration::from_secs(600));
    cfg.process_tag = Some(crate::gating::process_tag(input.worktree));
    if let Some(kit) = input.kit {
        match kit.commands(false) {
            Ok(s) => cfg.sandbox = Some(s),
            Err(e) => {
                return WorkerEnd::Failed {
                    message: format!("cannot prepare the sandbox: {e}"),
                };
            }
        }
    }
    let prompt = nightshift_agent::Prompt {
        recipe: input.job.prompt.clone(),
        progress_notes: input.notes.to_string(),
        repo_map: input.repo_map.map(str::to_string),
    };
    let mut forward = |e: nightshift_agent::Event| on_event(format!("{e:?}"));
    let run = nightshift_agent::run_iteration(&cfg, input.worktree, &prompt, &mut forward);
    let outcome = match tokio::time::timeout(input.time_limit, run).await {
        Ok(o) => o,
        Err(_) => {
            return WorkerEnd::Failed {
                message: format!(
                    "the iteration ran past its time limit ({} s)",
                    input.time_limit.as_secs()
                ),
            };
        }
    };
    use nightshift_agent::Stop;
    match outcome.stop {
        Stop::Finished {
            summary,
            claims_done,
        } => WorkerEnd::Finished {
            summary,
            claims_done,
            notes: outcome.notes,
        },
        Stop::AnsweredWithoutTools { text } => WorkerEnd::Finished {
            summary: text,
            claims_done: false,
            notes: None,
        },
        Stop::MaxTurns => WorkerEnd::Failed {
            message: format!(
                "the agent used all {} turns without finishing",
                input.job.max_turns
            ),
        },
        Stop::Thrashing {
            tool,
            error,
            repeats,
        } => WorkerEnd::Thrashing {
            message: format!(
                "the model made the same failing `{tool}` call {repeats} times in a row, and the iteration was ended ({})",
                error.chars().take(300).collect::<String>()
            ),
        },
        Stop::BudgetExhausted { message } => WorkerEnd::Budget { message },
        Stop::ToolFailed { message } => WorkerEnd::Failed { message },
        Stop::Unauthorized { message } => WorkerEnd::Failed {
            message: format!("the gateway refused the job's token: {message}"),
        },
        Stop::ModelError { status, message } => WorkerEnd::Failed {
            message: match status {
                Some(s) => format!("model call failed with HTTP {s}: {message}"),
                None => format!("model call failed: {message}"),
            },
        },
    }
}

/// The most bytes of a command worker's output kept (its head and tail).
const COMMAND_OUTPUT_BYTES: usize = 2 * 1024 * 1024;

/// `recipe.command`, run with `sh -c` in the worktree. Exit 0 finishes the iteration; the
/// command claims the task done by exiting 0 with `NIGHTSHIFT_DONE` on a line of its output.
async fn command(input: IterationInput<'_>) -> WorkerEnd {
    let Some(cmd) = input.job.command.as_deref() else {
        return WorkerEnd::Failed {
            message: "worker `command` has no command".into(),
        };
    };
    let v1 = input.inside_v1();
    let mut run = nightshift_process::Command::shell(cmd, input.worktree)
        .tag(crate::gating::process_tag(input.worktree))
        .time_limit(input.time_limit)
        .vars([
            ("NIGHTSHIFT_ITERATION", input.n.to_string()),
            ("NIGHTSHIFT_NOTES", input.notes.to_string()),
            ("OPENAI_BASE_URL", v1.to_string()),
            ("OPENAI_API_KEY", input.token.to_string()),
            ("ANTHROPIC_BASE_URL", v1.trim_end_matches("/v1").to_string()),
            ("ANTHROPIC_API_KEY", input.token.to_string()),
        ]);
    if let Some(kit) = input.kit {
        match kit.commands(false) {
            Ok(s) => run = run.sandbox(s),
            Err(e) => {
                return WorkerEnd::Failed {
                    message: format!("cannot prepare the sandbox: {e}"),
                };
            }
        }
    }
    let run = run.output(COMMAND_OUTPUT_BYTES).await;
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            return WorkerEnd::Failed {
                message: format!("the command could not start: {e}"),
            };
        }
    };
    let text = run.output.text();
    match run.end {
        nightshift_process::End::Exited(0) => WorkerEnd::Finished {
            summary: text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string(),
            claims_done: text.lines().any(|l| l.trim() == "NIGHTSHIFT_DONE"),
            notes: None,
        },
        nightshift_process::End::TimedOut => WorkerEnd::Failed {
            message: format!(
                "the command timed out: `{cmd}` did not finish within {} s and was killed with every process it started",
                input.time_limit.as_secs()
            ),
        },
        nightshift_process::End::Exited(code) => WorkerEnd::Failed {
            message: format!("the command failed: `{cmd}` exited with code {code}"),
        },
        end => WorkerEnd::Failed {
            message: format!("the command failed: `{cmd}` ended without an exit code ({end:?})"),
        },
    }
}
