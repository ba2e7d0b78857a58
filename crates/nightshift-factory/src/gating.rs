//! Gates on an iteration's commit: the policy checks on its change, then the spec's
//! commands on its tree, then (when the worker claims done) the done-check.

use std::path::Path;
use std::time::Duration;

use nightshift_gates::{Change, ChangeStatus, CommandGate, FileChange, GateResult, Policy};
use nightshift_git::Worktree;
use nightshift_process::Sandbox;
use nightshift_spec::{GateCommand, Gates, PolicySpec};

use crate::error::FactoryError;

/// The verdict on one iteration.
pub struct Verdict {
    pub results: Vec<GateResult>,
    /// Every gate passed: the commit advances the branch.
    pub accepted: bool,
    /// The done-check ran and passed (or none is set) while the worker claimed done.
    pub done_verified: bool,
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
    /// A digest of the change, to spot the same diff twice.
    pub diff_digest: u64,
    /// A command gate ran in the worktree (and may have left files behind).
    pub ran_commands: bool,
    /// Files were added, deleted or renamed: the tree changed shape.
    pub reshaped: bool,
    /// Figures (JSON) some gates keep beside their words, by gate name.
    pub figures: Vec<(String, String)>,
}

pub fn policy(spec: &PolicySpec) -> Policy {
    let mut p = Policy::default();
    if let Some(v) = spec.require_change {
        p.require_change = v;
    }
    if let Some(v) = spec.protect_tests {
        p.protect_tests = v;
    }
    if let Some(v) = &spec.test_globs {
        p.test_globs = v.clone();
    }
    if let Some(v) = &spec.protected_paths {
        p.protected_paths = v.clone();
    }
    if spec.max_changed_lines.is_some() {
        p.max_changed_lines = spec.max_changed_lines;
    }
    if let Some(v) = spec.forbid_hook_bypass {
        p.forbid_hook_bypass = v;
    }
    p.allow_test_changes = spec.allow_test_changes;
    p
}

fn command_gate(g: &GateCommand) -> CommandGate {
    CommandGate::new(
        g.name.clone(),
        g.run.clone(),
        Duration::from_secs(g.timeout_secs),
    )
}

/// The tag ([`nightshift_process::TAG_VAR`]) of every process the factory starts for the job
/// whose worktree is `worktree`: unique on the machine, the same after a restart.
pub(crate) fn process_tag(worktree: &Path) -> String {
    worktree.display().to_string()
}

/// End every process the factory started for the jobs `jobs` of shift `shift` (a stopped
/// run's): what each job's tag marks. Returns how many there were.
pub async fn end_processes(layout: &crate::Layout, shift: &str, jobs: &[String]) -> usize {
    let mut ended = 0;
    for job in jobs {
        ended += nightshift_process::reap_tagged(&process_tag(&layout.worktree(shift, job))).await;
    }
    ended
}

/// End whatever a crashed run left at work for this job (a gate, the agent's command, an
/// agent CLI and its tools): every process tagged with the job's tag.
pub async fn reap_orphans(worktree: &Path) {
    let n = nightshift_process::reap_tagged(&process_tag(worktree)).await;
    if n > 0 {
        tracing::warn!(processes = n, worktree = %worktree.display(), "Ended processes an earlier run of this job left running.");
    }
}

struct Stat {
    files: u64,
    insertions: u64,
    deletions: u64,
}

/// Inserted and deleted lines of a unified diff (what `git diff --numstat` would sum, read
/// from the diff we already have instead of asking git again). Binary files count as files.
fn numstat(diff: &str, files: u64) -> Stat {
    let mut stat = Stat {
        files,
        insertions: 0,
        deletions: 0,
    };
    let mut in_hunk = false;
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            in_hunk = false;
        } else if line.starts_with("@@") {
            in_hunk = true;
        } else if in_hunk {
            match line.as_bytes().first() {
                Some(b'+') => stat.insertions += 1,
                Some(b'-') => stat.deletions += 1,
                _ => {}
            }
        }
    }
    stat
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub async fn judge(
    job: &str,
    wt: &Worktree,
    gates: &Gates,
    secrets: &nightshift_gates::secrets::Rules,
    (base, commit): (&str, &str),
    claims_done: bool,
    sandbox: Option<&Sandbox>,
) -> Result<Verdict, FactoryError> {
    let git = |source| FactoryError::Git {
        job: job.to_string(),
        source,
    };
    let (changes, diff) = wt.changes_and_diff(base, commit).await.map_err(git)?;
    let stat = numstat(&diff, changes.len() as u64);
    let hooks_path = wt.config_get("core.hooksPath").await.map_err(git)?;
    let change = Change {
        files: changes
            .into_iter()
            .map(|c| FileChange {
                path: c.path,
                status: match c.status {
                    nightshift_git::ChangeStatus::Added => ChangeStatus::Added,
                    nightshift_git::ChangeStatus::Modified => ChangeStatus::Modified,
                    nightshift_git::ChangeStatus::Deleted => ChangeStatus::Deleted,
                    nightshift_git::ChangeStatus::Renamed { from } => {
                        ChangeStatus::Renamed { from }
                    }
                },
                old_text: c.old_text,
                new_text: c.new_text,
                link_target: c.link_target,
            })
            .collect(),
        insertions: stat.insertions,
        deletions: stat.deletions,
        hooks_path,
    };
    let empty = change.files.is_empty();
    let reshaped = change
        .files
        .iter()
        .any(|f| !matches!(f.status, ChangeStatus::Modified));
    let mut policy = policy(&gates.policy);
    // An agent that changes nothing but claims done is asking for verification, not
    // offering a change: the command gates and the done-check decide.
    if empty && claims_done {
        policy.require_change = false;
    }
    let mut results = nightshift_gates::check(&policy, &change)
        .map_err(|e| FactoryError::Invalid(e.to_string()))?;
    results.extend(crate::guards::on_change(gates, secrets, &change)?);
    let tag = process_tag(wt.path());
    for g in &gates.commands {
        results.push(
            nightshift_gates::run_command(wt.path(), &command_gate(g), &tag, sandbox.cloned())
                .await,
        );
    }
    if results.iter().all(|r| r.passed)
        && let Some(r) =
            original_tests(job, wt, gates, &policy, &change, (base, commit), sandbox).await?
    {
        results.push(r);
    }
    let mut figures = Vec::new();
    let measured = results.iter().all(|r| r.passed) && !empty && gates.health.is_some();
    if measured && let Some(spec) = &gates.health {
        let (r, f) = crate::guards::health(job, wt, spec, &change, (base, commit), sandbox).await?;
        figures.push((r.gate.clone(), f));
        results.push(r);
    }
    let accepted = results.iter().all(|r| r.passed);
    let mut done_verified = false;
    if accepted && claims_done {
        done_verified = match &gates.done_check {
            Some(g) => {
                let r = nightshift_gates::run_command(
                    wt.path(),
                    &command_gate(g),
                    &tag,
                    sandbox.cloned(),
                )
                .await;
                let passed = r.passed;
                results.push(r);
                passed
            }
            None => true,
        };
    }
    Ok(Verdict {
        results,
        accepted,
        done_verified,
        files: stat.files,
        insertions: stat.insertions,
        deletions: stat.deletions,
        diff_digest: fnv(&diff),
        reshaped,
        ran_commands: !gates.commands.is_empty()
            || measured
            || (accepted && claims_done && gates.done_check.is_some()),
        figures,
    })
}

/// The gate that runs the repository's original versions of the test files a change
/// modified, against the changed code.
pub const ORIGINAL_TESTS: &str = "original-tests";

/// When a change modifies existing test files (and `protect_tests` is on), the command
/// gates run again with those files as they were at the base: the repository's original
/// tests must still pass against the changed code, whatever the new versions assert. With
/// `allow_test_changes` a failure is not a defect but is flagged for review. The files are
/// put back by git (never written through a link the agent may have committed), and the
/// worktree is reset to the commit afterwards, however the run went. `None` when there is
/// nothing to run.
async fn original_tests(
    job: &str,
    wt: &Worktree,
    gates: &Gates,
    policy: &Policy,
    change: &Change,
    (base, commit): (&str, &str),
    sandbox: Option<&Sandbox>,
) -> Result<Option<GateResult>, FactoryError> {
    if !policy.protect_tests || gates.commands.is_empty() {
        return Ok(None);
    }
    let files = nightshift_gates::modified_test_files(policy, change)
        .map_err(|e| FactoryError::Invalid(e.to_string()))?;
    if files.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = files.iter().map(|f| f.old_path()).collect();
    let git = |source| FactoryError::Git {
        job: job.to_string(),
        source,
    };
    let ran = match wt.restore_from(base, &names).await {
        Ok(()) => Ok(run_commands(wt, gates, sandbox).await),
        Err(e) => Err(git(e)),
    };
    // Back to the commit: the new versions of the test files, nothing the run left.
    wt.reset_to(commit).await.map_err(git)?;
    let (duration_ms, failed, last) = ran?;
    Ok(Some(original_tests_result(
        &names,
        policy,
        duration_ms,
        failed,
        last,
    )))
}

/// Run the command gates in order until one fails: the time they took, the failure, the
/// last that passed.
async fn run_commands(
    wt: &Worktree,
    gates: &Gates,
    sandbox: Option<&Sandbox>,
) -> (u64, Option<GateResult>, Option<GateResult>) {
    let tag = process_tag(wt.path());
    let mut duration_ms = 0;
    let mut last = None;
    for g in &gates.commands {
        let r = nightshift_gates::run_command(wt.path(), &command_gate(g), &tag, sandbox.cloned())
            .await;
        duration_ms += r.duration_ms;
        if !r.passed {
            return (duration_ms, Some(r), last);
        }
        last = Some(r);
    }
    (duration_ms, None, last)
}

fn original_tests_result(
    names: &[&str],
    policy: &Policy,
    duration_ms: u64,
    failed: Option<GateResult>,
    last: Option<GateResult>,
) -> GateResult {
    let (what, verb) = match names {
        [one] => (
            format!("the original version of {one}"),
            ("passes", "fails"),
        ),
        many => (
            format!(
                "the original versions of {} modified test files ({})",
                many.len(),
                many.join(", ")
            ),
            ("pass", "fail"),
        ),
    };
    match failed {
        None => GateResult {
            gate: ORIGINAL_TESTS.into(),
            passed: true,
            duration_ms,
            exit_code: Some(0),
            timed_out: false,
            detail: format!("{what} still {} against the changed code", verb.0),
            excerpt: last.map(|r| r.excerpt).unwrap_or_default(),
            review: None,
        },
        Some(r) => {
            let detail = format!("{what} {} against the changed code: {}", verb.1, r.detail);
            GateResult {
                gate: ORIGINAL_TESTS.into(),
                passed: policy.allow_test_changes,
                duration_ms,
                exit_code: r.exit_code,
                timed_out: r.timed_out,
                review: policy.allow_test_changes.then(|| {
                    format!("`allow_test_changes` let the change alter tests that the repository's original versions hold it to: {detail}; a person should check the new behaviour is intended before this lands")
                }),
                detail,
                excerpt: r.excerpt,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numstat;

    #[test]
    fn numstat_counts_hunk_lines_not_headers() {
        let diff = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-old\n+++new starts with pluses\n keep\ndiff --git a/y b/y\nnew file mode 100644\n--- /dev/null\n+++ b/y\n@@ -0,0 +1 @@\n+y\n";
        let s = numstat(diff, 2);
        assert_eq!((s.files, s.insertions, s.deletions), (2, 2, 1));
    }
}
