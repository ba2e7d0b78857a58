//! External agent CLIs as workers: the process around what `nightshift-workers` builds.
//!
//! One run: a fresh home for the CLI in the job's scratch space (never in the worktree, so
//! the gates never see it), its files written, then the CLI started in the worktree by the
//! process supervisor (`nightshift-process`: stdin closed, the one environment policy plus
//! the CLI's own home and gateway variables, the job's tag). Its stdout is read line by line
//! into events as they come; the run ends when the CLI exits, or is ended — with every
//! process it started, its tools in their own groups included — when it passes the
//! iteration's time limit, goes silent for `recipe.silence_secs` (stuck waiting for input),
//! or goes past `recipe.max_turns`.

use std::path::Path;
use std::time::Duration;

use nightshift_process::{End as RunEnd, Flow};
use nightshift_workers::{Cli, End, Launch, LaunchInput, Tally};

use crate::ctx::ShiftCtx;
use crate::error::FactoryError;
use crate::worker::{IterationInput, WorkerEnd, WorkerReport};

/// The most bytes of stderr kept (the last ones), for failure messages.
const STDERR_TAIL: usize = 4096;

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The binary a worker needs, or why it cannot run (checked before a shift starts).
pub(crate) fn resolve(cli: Cli) -> Result<std::path::PathBuf, String> {
    cli.resolve(&env_var).map_err(|e| e.0)
}

/// The folder an agent CLI's binary and everything it loads live in (the npm install's
/// folder, above its `node_modules`), with links resolved: bound read-only into the
/// sandbox, where the folder around it may be hidden.
pub(crate) fn package_dir(binary: &Path) -> Option<std::path::PathBuf> {
    let real = std::fs::canonicalize(binary).ok()?;
    let modules = real
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "node_modules"))?;
    modules.parent().map(Path::to_path_buf)
}

pub(crate) async fn run(
    cli: Cli,
    input: IterationInput<'_>,
    on_event: &mut (dyn FnMut(String) + Send),
    report: &mut WorkerReport,
) -> WorkerEnd {
    let (binary, launch) = match launch(cli, &input).await {
        Ok(l) => l,
        Err(message) => return WorkerEnd::Failed { message },
    };
    let product = cli.product();
    let mut tally = Tally::default();
    let max_turns = input.job.max_turns;
    let silence = Duration::from_secs(input.job.silence_secs);
    let mut on_line = |line: &str| {
        for e in nightshift_workers::parse_line(cli, line.trim_end()) {
            tally.add(cli, &e);
            on_event(format!("{}: {e}", cli.worker()));
        }
        if over_turn_limit(cli, &tally, max_turns) {
            return Flow::Stop;
        }
        Flow::Continue
    };
    // The CLI's own HOME and gateway variables (`launch.env`) on top of the one policy.
    // Sandboxed, it starts from its real path (the links to it may lie in hidden folders).
    let mut cmd = match input.kit {
        Some(_) => nightshift_process::Command::new(
            std::fs::canonicalize(&launch.program).unwrap_or_else(|_| launch.program.clone()),
            input.worktree,
        ),
        None => nightshift_process::Command::new(&launch.program, input.worktree),
    }
    .args(&launch.args)
    .vars(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    .tag(crate::gating::process_tag(input.worktree))
    .time_limit(input.time_limit)
    .silence_limit(silence);
    if let Some(kit) = input.kit {
        cmd = cmd.sandbox(kit.with_home(input.scratch.join(cli.worker())));
    }
    let run = cmd.lines(&mut on_line, STDERR_TAIL).await;
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            return WorkerEnd::Failed {
                message: format!(
                    "cannot start {product} ({}): {}",
                    binary.display(),
                    e.source
                ),
            };
        }
    };
    report.reported_usage = tally.usage_reported.then_some(tally.usage);
    let stderr_line = String::from_utf8_lossy(&run.output.tail())
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    tracing::debug!(
        cli = cli.worker(),
        end = ?run.end,
        session = tally.session.as_deref().unwrap_or(""),
        turns = tally.turns,
        tool_calls = tally.tool_calls,
        commands = tally.commands,
        leftovers = run.leftovers,
        "Agent CLI ended."
    );
    for warning in &tally.warnings {
        tracing::warn!(cli = cli.worker(), job = %input.job.name, warning = %warning, "The agent CLI reported a problem.");
    }
    judge_cli(
        cli,
        &tally,
        run.end,
        &stderr_line,
        input.time_limit,
        silence,
        max_turns,
    )
}

/// How a CLI's run ended, as the stop rules need it.
fn judge_cli(
    cli: Cli,
    tally: &Tally,
    end: RunEnd,
    stderr_line: &str,
    time_limit: Duration,
    silence: Duration,
    max_turns: u32,
) -> WorkerEnd {
    let product = cli.product();
    let code = match end {
        RunEnd::TimedOut => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} ran past the iteration's time limit ({} s) and was killed with every process it started",
                    time_limit.as_secs()
                ),
            };
        }
        RunEnd::Silent => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} wrote nothing for {} s (recipe.silence_secs): taken to be waiting for input, killed with every process it started",
                    silence.as_secs()
                ),
            };
        }
        RunEnd::Stopped => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} went past recipe.max_turns ({max_turns} turns) and was stopped"
                ),
            };
        }
        RunEnd::Exited(c) => Some(c),
        RunEnd::Signalled(_) | RunEnd::Lost => None,
    };
    match (&tally.end, code) {
        (Some(End::MaxTurns), _) => WorkerEnd::Failed {
            message: format!(
                "{product} hit its turn limit (recipe.max_turns = {max_turns}) without finishing"
            ),
        },
        (Some(End::Failed { message }), _) => WorkerEnd::Failed {
            message: format!("{product} failed: {message}"),
        },
        (Some(End::Completed), Some(0)) | (None, Some(0)) if finished(cli, tally) => {
            finished_end(cli, tally)
        }
        (_, Some(0)) => WorkerEnd::Failed {
            message: format!("{product} exited without finishing its turn"),
        },
        (_, Some(c)) => WorkerEnd::Failed {
            message: format!(
                "{product} exited with code {c}{}",
                if stderr_line.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr_line}")
                }
            ),
        },
        (_, None) => WorkerEnd::Failed {
            message: format!("{product} was ended by a signal"),
        },
    }
}

/// The CLI's binary and how to launch it, its fresh home written.
async fn launch(
    cli: Cli,
    input: &IterationInput<'_>,
) -> Result<(std::path::PathBuf, Launch), String> {
    let binary = resolve(cli)?;
    let home = input.scratch.join(cli.worker());
    let prompt = nightshift_workers::prompt(&input.job.prompt, input.notes, input.n);
    let plugin = match cli {
        Cli::Opencode => Cli::opencode_plugin_dir(&binary, &env_var),
        _ => None,
    };
    if cli == Cli::Opencode && plugin.is_none() {
        tracing::warn!(
            "OpenCode's plugin package is not pre-installed (run scripts/install-agents.sh); OpenCode may try to download it."
        );
    }
    let launch = LaunchInput {
        cli,
        binary: &binary,
        gateway_v1: input.inside_v1(),
        token: input.token,
        model: &input.job.model,
        prompt: &prompt,
        home: &home,
        max_turns: input.job.max_turns,
        max_output_tokens: nightshift_workers::DEFAULT_MAX_OUTPUT_TOKENS,
        opencode_plugin: plugin.as_deref(),
        sandboxed: input.kit.is_some(),
    }
    .build();
    prepare(&home, &launch).await.map_err(|e| {
        format!(
            "cannot prepare {}'s home {}: {e}",
            cli.product(),
            home.display()
        )
    })?;
    Ok((binary, launch))
}

/// Whether a run that exited 0 finished its turn: Codex and Claude Code say so; OpenCode's
/// stream has no end event, so a clean exit after at least one model turn counts.
fn finished(cli: Cli, t: &Tally) -> bool {
    match cli {
        Cli::Codex | Cli::ClaudeCode => t.end == Some(End::Completed),
        Cli::Opencode => t.end.is_none() && t.turns > 0,
    }
}

fn over_turn_limit(cli: Cli, t: &Tally, max_turns: u32) -> bool {
    match cli {
        // Codex has no turn limit of its own: each tool call is followed by a model call.
        Cli::Codex => t.tool_calls > max_turns,
        // Claude Code enforces `--max-turns` itself; this is only a backstop.
        Cli::ClaudeCode => t.turns > max_turns.saturating_add(1),
        Cli::Opencode => t.turns > max_turns,
    }
}

fn finished_end(cli: Cli, t: &Tally) -> WorkerEnd {
    let message = t.last_message.clone().unwrap_or_default();
    let claims_done = nightshift_workers::claims_done(&message);
    let text: String = message
        .lines()
        .filter(|l| !l.contains(nightshift_workers::CONTINUE_MARKER))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.trim();
    // An empty change is the policy gate's to find (`non-empty-change`, with its evidence),
    // on the committed tree, like every worker's.
    let summary = if text.is_empty() {
        format!("{} finished its turn without a message", cli.product())
    } else {
        text.chars().take(2000).collect()
    };
    WorkerEnd::Finished {
        summary,
        claims_done,
        notes: (!text.is_empty()).then(|| text.to_string()),
    }
}

/// A fresh home: whatever the previous iteration's run left there goes.
async fn prepare(home: &Path, launch: &Launch) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(home).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    tokio::fs::create_dir_all(home).await?;
    for d in &launch.dirs {
        tokio::fs::create_dir_all(d).await?;
    }
    for (path, text) in &launch.files {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(path, text).await?;
    }
    for (link, target) in &launch.links {
        if let Some(parent) = link.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::symlink(target, link).await?;
    }
    Ok(())
}

/// An agent CLI's iteration, held against the ledger: its own usage figures are
/// compared with the ledger's rows for the job's token since the iteration began (the
/// ledger wins; a disagreement is logged), and a failure after the gateway refused a
/// call for the budget is a budget stop.
pub(crate) async fn reconcile_usage(
    shift: &ShiftCtx,
    token_id: &str,
    (job, n): (&str, u32),
    since_ms: i64,
    end: WorkerEnd,
    report: &WorkerReport,
    events: &mut Vec<String>,
) -> Result<WorkerEnd, FactoryError> {
    // The store's ledger reads count the calls the gateway has so far only journalled, so
    // this iteration's last calls are in these rows.
    let rows = shift.store.ledger_rows_of_token(token_id, since_ms).await?;
    let sum = |f: fn(&nightshift_store::LedgerRow) -> i64| -> u64 {
        rows.iter().map(|r| u64::try_from(f(r)).unwrap_or(0)).sum()
    };
    let ledger = nightshift_workers::Usage {
        input_tokens: sum(|r| r.input_tokens),
        cached_input_tokens: sum(|r| r.cached_input_tokens),
        cache_write_tokens: sum(|r| r.cache_write_tokens),
        output_tokens: sum(|r| r.output_tokens),
        reasoning_tokens: sum(|r| r.reasoning_tokens),
    };
    let calls = rows
        .iter()
        .filter(|r| r.outcome != nightshift_store::CallOutcome::Refused)
        .count();
    let refused = rows
        .iter()
        .rev()
        .find(|r| r.outcome == nightshift_store::CallOutcome::Refused);
    events.push(format!(
        "ledger: {calls} calls, {} input ({} cached), {} output",
        ledger.input_tokens, ledger.cached_input_tokens, ledger.output_tokens
    ));
    match report.reported_usage {
        Some(cli)
            if (cli.input_tokens, cli.cached_input_tokens, cli.output_tokens)
                != (
                    ledger.input_tokens,
                    ledger.cached_input_tokens,
                    ledger.output_tokens,
                ) =>
        {
            tracing::warn!(
                job = %job, iteration = n,
                cli_input = cli.input_tokens, cli_cached = cli.cached_input_tokens, cli_output = cli.output_tokens,
                ledger_input = ledger.input_tokens, ledger_cached = ledger.cached_input_tokens, ledger_output = ledger.output_tokens,
                "The agent CLI's usage disagrees with the ledger; the ledger counts."
            );
            events.push(format!(
                "usage disagreement: the CLI reported {} input ({} cached), {} output; the ledger has {} input ({} cached), {} output, and counts",
                cli.input_tokens, cli.cached_input_tokens, cli.output_tokens, ledger.input_tokens, ledger.cached_input_tokens, ledger.output_tokens
            ));
        }
        Some(_) => events.push("usage: the CLI's figures match the ledger".into()),
        None if calls > 0 => events.push("usage: the CLI reported none".into()),
        None => {}
    }
    Ok(match (end, refused) {
        (WorkerEnd::Failed { message }, Some(r)) => WorkerEnd::Budget {
            message: format!(
                "{} ({message})",
                r.detail
                    .clone()
                    .unwrap_or_else(|| "the gateway refused a call for the budget".into())
            ),
        },
        (end, _) => end,
    })
}
