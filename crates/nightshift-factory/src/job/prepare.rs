//! The first stage of a job: its mirror, base commit, worktree and token, and where its
//! history says to pick up.

use nightshift_clock::now_ms;
use nightshift_git::{Mirror, Worktree};
use nightshift_store::{Event, JobState, StateChange};

use super::JobCtx;
use super::state::Loop;
use crate::error::FactoryError;
use crate::resume::{self, Plan};

fn mkdir(path: &std::path::Path) -> Result<(), FactoryError> {
    std::fs::create_dir_all(path).map_err(|source| FactoryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Make the job ready to iterate: the loop, and what its history says to do first.
pub(crate) async fn prepare(mut ctx: JobCtx) -> Result<(Loop, Plan), FactoryError> {
    let (mirror, wt) = workspace(&mut ctx).await?;
    start(ctx, mirror, wt).await
}

/// The job's mirror and worktree, on its own branch from its base commit (fixed and
/// recorded the first time).
async fn workspace(ctx: &mut JobCtx) -> Result<(Mirror, Worktree), FactoryError> {
    let shift = ctx.shift.clone();
    let name = ctx.spec.name.clone();
    let git = |source| FactoryError::Git {
        job: name.clone(),
        source,
    };
    let mirrors = shift.layout.mirrors();
    mkdir(&mirrors)?;
    let mirror = Mirror::ensure(&mirrors, &ctx.spec.source)
        .await
        .map_err(git)?;
    let base = match &ctx.row.base_sha {
        Some(b) => b.clone(),
        None => {
            let branch = mirror.default_branch().await.map_err(git)?;
            mirror.resolve(&branch).await.map_err(git)?.ok_or_else(|| {
                FactoryError::Invalid(format!(
                    "repository {} has no commit on its default branch `{branch}`",
                    ctx.spec.source
                ))
            })?
        }
    };
    let wt_path = shift.layout.worktree(&shift.spec.name, &name);
    if let Some(parent) = wt_path.parent() {
        mkdir(parent)?;
    }
    let existing = mirror
        .resolve(&format!("refs/heads/{}", ctx.row.branch))
        .await
        .map_err(git)?;
    if ctx.row.base_sha.is_none()
        && let Some(tip) = existing
    {
        // A fresh job must not build on (and later push over) a branch someone else made.
        // With a pull request, an earlier run's branch (its tip under the factory's refs)
        // is the one to update: the job starts again from the base, the old work stays
        // under its refs, and the push replaces the branch with a lease.
        let ours = shift.spec.landing.mode.uses_forge()
            && mirror
                .is_reachable_from_refs(&tip, &["refs/nightshift"])
                .await
                .map_err(git)?;
        if !ours {
            return Err(FactoryError::Invalid(format!(
                "branch `{}` already exists in {}; delete it there or change the shift's name or landing.branch",
                ctx.row.branch, ctx.spec.source
            )));
        }
        tracing::info!(job = %name, branch = %ctx.row.branch, "Starting an earlier run's branch again from the base; its pull request is updated in place.");
        mirror
            .update_ref(&format!("refs/heads/{}", ctx.row.branch), &base)
            .await
            .map_err(git)?;
    }
    let resumed = ctx.row.base_sha.is_some();
    if !resumed {
        // Record where the job starts before its branch exists, so a crash in between
        // resumes on our own branch instead of refusing it as someone else's.
        ctx.row.base_sha = Some(base.clone());
        shift
            .store
            .record(
                &shift.spec.name,
                Some(&name),
                &Event::JobPrepared { base: base.clone() },
                now_ms(),
                &[StateChange::Job(ctx.row.clone())],
            )
            .await?;
    }
    mkdir(&shift.layout.scratch(&shift.spec.name, &name))?;
    // What a crash orphaned (a gate, an agent's command) may still be at work in this
    // worktree: end it first. A fresh job has nothing to end (the scan reads every
    // process's environment: not for each of a thousand new jobs).
    if resumed {
        crate::gating::reap_orphans(&wt_path).await;
    }
    let wt = mirror
        .worktree(&wt_path, &ctx.row.branch, &base)
        .await
        .map_err(git)?;
    Ok((mirror, wt))
}

/// A token for this run of the job, holding what is left of the job's budget; the job
/// recorded as running; and the loop over its history.
async fn start(
    mut ctx: JobCtx,
    mirror: Mirror,
    wt: Worktree,
) -> Result<(Loop, Plan), FactoryError> {
    let shift = ctx.shift.clone();
    let name = ctx.spec.name.clone();
    let base = ctx.row.base_sha.clone().unwrap_or_default();
    let spent: i64 = shift
        .store
        .spend_by_job(&shift.spec.name)
        .await?
        .iter()
        .filter(|s| s.job == name)
        .map(|s| s.settled_nanos)
        .sum();
    let left = (ctx.spec.job_nanos - spent).max(0);
    let minted = nightshift_gateway::mint(
        shift.store.as_ref(),
        &name,
        left,
        Some(&shift.shift_token_id),
        None,
        now_ms(),
    )
    .await?;
    shift.gateway.register(&minted.record);
    ctx.row.state = JobState::Running;
    ctx.row.head_sha.get_or_insert(base.clone());
    ctx.row.worktree = Some(wt.path().display().to_string());
    ctx.row.started_ms.get_or_insert(now_ms());
    let started = Event::JobStarted {
        budget_left_nanos: left,
        base: base.clone(),
        branch: ctx.row.branch.clone(),
        resumed: ctx.row.iterations > 0,
    };
    shift
        .store
        .record(
            &shift.spec.name,
            Some(&name),
            &started,
            now_ms(),
            &[
                StateChange::Job(ctx.row.clone()),
                StateChange::JobToken {
                    shift: shift.spec.name.clone(),
                    job: name.clone(),
                    token_id: minted.record.id.clone(),
                },
            ],
        )
        .await?;

    let history = shift.store.iterations(&shift.spec.name, &name).await?;
    let kit = match &shift.sandbox {
        None => None,
        Some(host) => {
            let scratch = shift.layout.scratch(&shift.spec.name, &name);
            let place = crate::sandbox::Place {
                layout_root: shift.layout.root(),
                worktree: wt.path(),
                mirror: mirror.path(),
                scratch: &scratch,
                spec: &shift.spec,
                gateway_v1: shift.gateway.v1(),
                tools: crate::worker::cli(ctx.spec.worker)
                    .and_then(|cli| crate::external::resolve(cli).ok())
                    .and_then(|b| crate::external::package_dir(&b))
                    .into_iter()
                    .chain(crate::guards::tool_dirs(&ctx.spec.gates))
                    .collect(),
            };
            Some(crate::sandbox::Kit::new(host, place).await?)
        }
    };
    let secret_rules = crate::guards::secret_rules(&ctx.spec.gates.secrets)?;
    let l = Loop {
        shift: ctx.shift,
        spec: ctx.spec,
        row: ctx.row,
        wt,
        mirror,
        token: minted.token,
        token_id: minted.record.id,
        token_budget: minted.record.budget_nanos,
        stall: resume::stall(&history),
        last_rejected_digest: None,
        notes: resume::notes(&history),
        started_seq: None,
        review_token: None,
        secret_rules,
        head: String::new(),
        repo_map: None,
        kit,
    };
    Ok((l, resume::plan(&history)))
}
