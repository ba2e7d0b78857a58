//! External agent CLIs as workers: the process around what `nightshift-workers` builds.
//!
//! One run: a fresh home for the CLI in the job's scratch space (never in the worktree, so
//! the gates never see it), its files written, then the CLI started in the worktree with
//! stdin closed, a cleared environment, as the leader of its own process group. Its stdout
//! is read line by line into events as they come; the run ends when the CLI exits, or is
//! ended — with its whole group — when it passes the iteration's time limit, goes silent
//! for `recipe.silence_secs` (stuck waiting for input), or goes past `recipe.max_turns`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::time::Instant;

use nightshift_workers::{Cli, End, Launch, LaunchInput, Tally};

use crate::error::FactoryError;
use crate::shift::ShiftCtx;
use crate::worker::{IterationInput, WorkerEnd, WorkerReport};

/// Variables kept from the factory's own environment (as for gates); `HOME` is the CLI's own.
const KEPT_ENV: [&str; 3] = ["PATH", "LANG", "TMPDIR"];
/// How long output may keep coming after the CLI exited.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// The most bytes of stderr kept (the last ones), for failure messages.
const STDERR_TAIL: usize = 4096;

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The binary a worker needs, or why it cannot run (checked before a shift starts).
pub(crate) fn resolve(cli: Cli) -> Result<std::path::PathBuf, String> {
    cli.resolve(&env_var).map_err(|e| e.0)
}

/// Why the factory ended a run itself.
enum Ended {
    TimeLimit,
    Silent,
    TurnLimit,
}

pub(crate) async fn run(
    cli: Cli,
    input: IterationInput<'_>,
    on_event: &mut (dyn FnMut(String) + Send),
    report: &mut WorkerReport,
) -> WorkerEnd {
    let product = cli.product();
    let binary = match resolve(cli) {
        Ok(b) => b,
        Err(message) => return WorkerEnd::Failed { message },
    };
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
        gateway_v1: input.gateway_v1,
        token: input.token,
        model: &input.job.model,
        prompt: &prompt,
        home: &home,
        max_turns: input.job.max_turns,
        max_output_tokens: nightshift_workers::DEFAULT_MAX_OUTPUT_TOKENS,
        opencode_plugin: plugin.as_deref(),
    }
    .build();
    if let Err(e) = prepare(&home, &launch).await {
        return WorkerEnd::Failed {
            message: format!("cannot prepare {product}'s home {}: {e}", home.display()),
        };
    }

    let mut cmd = tokio::process::Command::new(&launch.program);
    cmd.args(&launch.args)
        .current_dir(input.worktree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .env_clear();
    for key in KEPT_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(crate::gating::gate_env(input.worktree));
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return WorkerEnd::Failed {
                message: format!("cannot start {product} ({}): {e}", binary.display()),
            };
        }
    };
    let pgid = child.id();
    tracing::debug!(cli = cli.worker(), pgid, binary = %binary.display(), "Agent CLI started.");
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        nightshift_gates::kill_tree(pgid, None).await;
        return WorkerEnd::Failed {
            message: format!("{product} started without its output pipes"),
        };
    };
    // Lines as bytes, decoded lossily: a line that is not UTF-8 must not stop the reading
    // (the CLI would then block on a full pipe and be taken for silent).
    let mut stdout = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut tally = Tally::default();
    let mut err_tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    let (mut out_done, mut err_done) = (false, false);
    let deadline = Instant::now() + input.time_limit;
    let silence = Duration::from_secs(input.job.silence_secs);
    let mut last_output = Instant::now();
    let mut status = None;
    let mut grace_until = None::<Instant>;
    let mut ended = None;
    loop {
        if out_done && err_done && status.is_some() {
            break;
        }
        let quiet_until = grace_until.unwrap_or(last_output + silence);
        tokio::select! {
            n = stdout.read_until(b'\n', &mut line), if !out_done => match n {
                Ok(n) if n > 0 => {
                    last_output = Instant::now();
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    for e in nightshift_workers::parse_line(cli, text.trim_end()) {
                        tally.add(cli, &e);
                        on_event(format!("{}: {e}", cli.worker()));
                    }
                    if over_turn_limit(cli, &tally, input.job.max_turns) {
                        ended = Some(Ended::TurnLimit);
                        break;
                    }
                }
                _ => out_done = true,
            },
            n = stderr.read(&mut buf), if !err_done => match n {
                Ok(0) | Err(_) => err_done = true,
                Ok(n) => {
                    last_output = Instant::now();
                    err_tail.extend_from_slice(&buf[..n]);
                    if err_tail.len() > STDERR_TAIL {
                        err_tail.drain(..err_tail.len() - STDERR_TAIL);
                    }
                }
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st);
                grace_until = Some(Instant::now() + EXIT_GRACE);
            },
            () = tokio::time::sleep_until(deadline) => {
                ended = Some(Ended::TimeLimit);
                break;
            },
            () = tokio::time::sleep_until(quiet_until) => {
                if grace_until.is_some() {
                    break;
                }
                ended = Some(Ended::Silent);
                break;
            },
        }
    }
    // Whatever the CLI left running goes with it: its group, and its tools, which Claude
    // Code and OpenCode start in groups of their own (found by the job's process tag).
    // Once the CLI has been reaped its process id (and so its group id, once the group is
    // empty) may be another process's: then only the tag, which is ours alone, is used.
    let tag = crate::gating::process_tag(input.worktree);
    let root = if status.is_none() { pgid } else { None };
    nightshift_gates::kill_tree(root, Some(&tag)).await;
    if status.is_none() {
        status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .ok();
    }
    let code = status.and_then(|s| s.ok()).and_then(|s| s.code());
    report.reported_usage = tally.usage_reported.then_some(tally.usage);
    let stderr_line = String::from_utf8_lossy(&err_tail)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    tracing::debug!(
        cli = cli.worker(),
        ?code,
        session = tally.session.as_deref().unwrap_or(""),
        turns = tally.turns,
        tool_calls = tally.tool_calls,
        commands = tally.commands,
        "Agent CLI ended."
    );
    for warning in &tally.warnings {
        tracing::warn!(cli = cli.worker(), job = %input.job.name, warning = %warning, "The agent CLI reported a problem.");
    }

    let max_turns = input.job.max_turns;
    match ended {
        Some(Ended::TimeLimit) => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} ran past the iteration's time limit ({} s) and was killed with every process it started",
                    input.time_limit.as_secs()
                ),
            };
        }
        Some(Ended::Silent) => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} wrote nothing for {} s (recipe.silence_secs): taken to be waiting for input, killed with every process it started",
                    silence.as_secs()
                ),
            };
        }
        Some(Ended::TurnLimit) => {
            return WorkerEnd::Failed {
                message: format!(
                    "{product} went past recipe.max_turns ({max_turns} turns) and was stopped"
                ),
            };
        }
        None => {}
    }
    match (&tally.end, code) {
        (Some(End::MaxTurns), _) => WorkerEnd::Failed {
            message: format!(
                "{product} hit its turn limit (recipe.max_turns = {max_turns}) without finishing"
            ),
        },
        (Some(End::Failed { message }), _) => WorkerEnd::Failed {
            message: format!("{product} failed: {message}"),
        },
        (Some(End::Completed), Some(0)) | (None, Some(0)) if finished(cli, &tally) => {
            finished_end(cli, &tally)
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
    let ledger = nightshift_workers::Usage {
        input: rows.iter().map(|r| r.input_tokens.max(0) as u64).sum(),
        cached_input: rows
            .iter()
            .map(|r| r.cached_input_tokens.max(0) as u64)
            .sum(),
        cache_write: rows
            .iter()
            .map(|r| r.cache_write_tokens.max(0) as u64)
            .sum(),
        output: rows.iter().map(|r| r.output_tokens.max(0) as u64).sum(),
        reasoning: rows.iter().map(|r| r.reasoning_tokens.max(0) as u64).sum(),
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
        ledger.input, ledger.cached_input, ledger.output
    ));
    match report.reported_usage {
        Some(cli)
            if (cli.input, cli.cached_input, cli.output)
                != (ledger.input, ledger.cached_input, ledger.output) =>
        {
            tracing::warn!(
                job = %job, iteration = n,
                cli_input = cli.input, cli_cached = cli.cached_input, cli_output = cli.output,
                ledger_input = ledger.input, ledger_cached = ledger.cached_input, ledger_output = ledger.output,
                "The agent CLI's usage disagrees with the ledger; the ledger counts."
            );
            events.push(format!(
                "usage disagreement: the CLI reported {} input ({} cached), {} output; the ledger has {} input ({} cached), {} output, and counts",
                cli.input, cli.cached_input, cli.output, ledger.input, ledger.cached_input, ledger.output
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
