//! One job's loop: workspace, token, iterations, gates, stop rules, and resume.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use nightshift_git::{Mirror, Worktree, iteration_ref};
use nightshift_spec::JobSpec;
use nightshift_store::{GateRow, IterationRow, JobRow, StateChange};

use crate::error::FactoryError;
use crate::gating::{Verdict, judge};
use crate::shift::{Phase, Progress, ShiftCtx, now_ms};
use crate::worker::{self, IterationInput, WorkerEnd};

pub(crate) struct JobCtx {
    pub shift: Arc<ShiftCtx>,
    pub spec: JobSpec,
    pub row: JobRow,
}

/// Why a job ended.
enum Stop {
    Done,
    Budget(String),
    MaxIterations,
    WallClock,
    Stalled(String),
}

impl Stop {
    fn reason(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Budget(_) => "budget",
            Self::MaxIterations => "max_iterations",
            Self::WallClock => "wall_clock",
            Self::Stalled(_) => "stalled",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Done => "the agent claimed done and the gates verified it".into(),
            Self::Budget(m) => m.clone(),
            Self::MaxIterations => "reached stop.max_iterations".into(),
            Self::WallClock => "reached stop.wall_clock_minutes".into(),
            Self::Stalled(m) => m.clone(),
        }
    }
}

struct Loop {
    ctx: JobCtx,
    wt: Worktree,
    mirror: Mirror,
    token: String,
    token_id: String,
    /// The job token's own budget (what was left of the job's when it was minted).
    token_budget: i64,
    stall: u32,
    last_rejected_digest: Option<u64>,
    /// Where the worktree's branch stands: the last accepted commit, or the base.
    head: String,
    /// The repository map of the tree at `head` (for the built-in agent), kept until an
    /// accepted change adds, deletes or renames files.
    repo_map: Option<String>,
    notes: String,
}

pub(crate) async fn run(ctx: JobCtx) -> Result<(), FactoryError> {
    let job = ctx.spec.name.clone();
    let shift = ctx.shift.clone();
    match run_inner(ctx).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // A job that cannot go on is finished as failed, with the reason kept.
            tracing::error!(job = %job, error = %e, "Job failed.");
            let mut row = shift
                .store
                .jobs(&shift.spec.name)
                .await?
                .into_iter()
                .find(|r| r.name == job)
                .ok_or_else(|| {
                    FactoryError::Invalid(format!("job `{job}` vanished from the store"))
                })?;
            row.state = "finished".into();
            row.stop_reason = Some("failed".into());
            row.stop_detail = Some(e.to_string());
            row.finished_ms = Some(now_ms());
            shift
                .store
                .record(
                    &shift.spec.name,
                    Some(&job),
                    "job_finished",
                    &json!({"reason": "failed", "detail": e.to_string()}),
                    now_ms(),
                    &[StateChange::Job(row)],
                )
                .await?;
            Ok(())
        }
    }
}

async fn run_inner(mut ctx: JobCtx) -> Result<(), FactoryError> {
    let shift = ctx.shift.clone();
    let name = ctx.spec.name.clone();
    let git = |source| FactoryError::Git {
        job: name.clone(),
        source,
    };
    let mirrors = shift.layout.mirrors();
    std::fs::create_dir_all(&mirrors).map_err(|source| FactoryError::Io {
        path: mirrors.clone(),
        source,
    })?;
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
        std::fs::create_dir_all(parent).map_err(|source| FactoryError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let existing = mirror
        .resolve(&format!("refs/heads/{}", ctx.row.branch))
        .await
        .map_err(git)?;
    if ctx.row.base_sha.is_none() && existing.is_some() {
        // A fresh job must not build on (and later push over) a branch someone else made.
        return Err(FactoryError::Invalid(format!(
            "branch `{}` already exists in {}; delete it there or change the shift's name or landing.branch",
            ctx.row.branch, ctx.spec.source
        )));
    }
    // A job prepared before this run may have left processes behind (a crash).
    let resumed = ctx.row.base_sha.is_some();
    if ctx.row.base_sha.is_none() {
        // Record where the job starts before its branch exists, so a crash in between
        // resumes on our own branch instead of refusing it as someone else's.
        ctx.row.base_sha = Some(base.clone());
        shift
            .store
            .record(
                &shift.spec.name,
                Some(&name),
                "job_prepared",
                &json!({"base": base}),
                now_ms(),
                &[StateChange::Job(ctx.row.clone())],
            )
            .await?;
    }
    let scratch = shift.layout.scratch(&shift.spec.name, &name);
    std::fs::create_dir_all(&scratch).map_err(|source| FactoryError::Io {
        path: scratch.clone(),
        source,
    })?;
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

    // A token for this run of the job, holding what is left of the job's budget.
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
    if let Some(g) = &shift.gateway {
        g.register(&minted.record);
    }
    ctx.row.state = "running".into();
    ctx.row.base_sha = Some(base.clone());
    ctx.row.head_sha.get_or_insert(base.clone());
    ctx.row.worktree = Some(wt.path().display().to_string());
    ctx.row.started_ms.get_or_insert(now_ms());
    shift
        .store
        .record(
            &shift.spec.name,
            Some(&name),
            "job_started",
            &json!({"budget_left_nanos": left, "base": base, "branch": ctx.row.branch, "resumed": ctx.row.iterations > 0}),
            now_ms(),
            &[
                StateChange::Job(ctx.row.clone()),
                StateChange::JobToken { shift: shift.spec.name.clone(), job: name.clone(), token_id: minted.record.id.clone() },
            ],
        )
        .await?;

    let history = shift.store.iterations(&shift.spec.name, &name).await?;
    let stall = history
        .iter()
        .rev()
        .take_while(|i| i.state != "accepted")
        .count() as u32;
    let notes = history
        .iter()
        .rev()
        .find_map(|i| i.notes.clone())
        .unwrap_or_default();
    let mut l = Loop {
        ctx,
        wt,
        mirror,
        token: minted.token,
        token_id: minted.record.id,
        token_budget: minted.record.budget_nanos,
        stall,
        last_rejected_digest: None,
        notes,
        head: String::new(),
        repo_map: None,
    };

    // Resume an iteration a crash interrupted: its work is committed and gated, not redone.
    if let Some(last) = history
        .last()
        .filter(|i| i.state == "running" || i.state == "committed")
    {
        if let Some(stop) = l.resume(last.clone()).await? {
            return l.finish(stop).await;
        }
    } else if let Some(last) = history.last() {
        // The reset after a verdict may not have happened before the crash.
        let next = match (last.state.as_str(), &last.commit_sha) {
            ("accepted", Some(c)) => c.clone(),
            _ => last.base_sha.clone(),
        };
        l.wt.reset_to(&next).await.map_err(|e| l.git(e))?;
    }
    l.head = l.wt.head().await.map_err(|e| l.git(e))?;
    loop {
        if let Some(stop) = l.before_iteration().await? {
            return l.finish(stop).await;
        }
        if let Some(stop) = l.iteration().await? {
            return l.finish(stop).await;
        }
    }
}

impl Loop {
    fn git(&self, source: nightshift_git::GitError) -> FactoryError {
        FactoryError::Git {
            job: self.ctx.spec.name.clone(),
            source,
        }
    }

    async fn progress(&self, n: u32, phase: Phase) {
        let spent = match self
            .ctx
            .shift
            .budget(&self.token_id, self.token_budget)
            .await
        {
            Ok((spent, _)) => spent,
            Err(e) => {
                tracing::debug!(error = %e, "Could not read the job's spend for progress.");
                0
            }
        };
        self.ctx.shift.report(Progress {
            job: self.ctx.spec.name.clone(),
            iteration: n,
            max_iterations: self.ctx.spec.max_iterations,
            phase,
            accepted: self.ctx.row.accepted as u32,
            defects: self.ctx.row.defects as u32,
            spent_nanos: spent,
        });
    }

    /// The stop rules checked before an iteration starts.
    async fn before_iteration(&self) -> Result<Option<Stop>, FactoryError> {
        let row = &self.ctx.row;
        let spec = &self.ctx.spec;
        let stop_rules = &self.ctx.shift.spec.stop;
        if row.iterations >= i64::from(spec.max_iterations) {
            return Ok(Some(Stop::MaxIterations));
        }
        if let (Some(limit), Some(started)) = (stop_rules.wall_clock_ms, row.started_ms)
            && now_ms() - started >= limit as i64
        {
            return Ok(Some(Stop::WallClock));
        }
        if self.stall >= stop_rules.stall_iterations {
            return Ok(Some(Stop::Stalled(format!(
                "{} iterations in a row without an accepted change",
                self.stall
            ))));
        }
        let min = self.ctx.shift.min_call_nanos;
        let (_, left) = self
            .ctx
            .shift
            .budget(&self.token_id, self.token_budget)
            .await?;
        if left < min {
            return Ok(Some(Stop::Budget(format!(
                "the budget left ({}) cannot pay for another iteration's first call (about {})",
                nightshift_meter::format_usd(left.max(0)),
                nightshift_meter::format_usd(min)
            ))));
        }
        Ok(None)
    }

    fn time_limit(&self) -> Duration {
        let rules = &self.ctx.shift.spec.stop;
        match (rules.wall_clock_ms, self.ctx.row.started_ms) {
            (Some(limit), Some(started)) => {
                let left = limit as i64 - (now_ms() - started);
                Duration::from_millis(left.max(500) as u64)
            }
            _ => Duration::from_secs(3600),
        }
    }

    fn iteration_row(&self, n: u32, state: &str, base: &str) -> IterationRow {
        IterationRow {
            shift: self.ctx.shift.spec.name.clone(),
            job: self.ctx.spec.name.clone(),
            n: i64::from(n),
            state: state.into(),
            base_sha: base.into(),
            commit_sha: None,
            worker_stop: None,
            claims_done: false,
            summary: None,
            notes: None,
            files: 0,
            insertions: 0,
            deletions: 0,
            started_ms: now_ms(),
            finished_ms: None,
        }
    }

    async fn record(
        &self,
        kind: &str,
        data: serde_json::Value,
        changes: &[StateChange],
    ) -> Result<(), FactoryError> {
        let s = &self.ctx.shift;
        s.store
            .record(
                &s.spec.name,
                Some(&self.ctx.spec.name),
                kind,
                &data,
                now_ms(),
                changes,
            )
            .await?;
        Ok(())
    }

    async fn iteration(&mut self) -> Result<Option<Stop>, FactoryError> {
        let n = (self.ctx.row.iterations + 1) as u32;
        let base = self.head.clone();
        let row = self.iteration_row(n, "running", &base);
        self.record(
            "iteration_started",
            json!({"n": n, "base": base}),
            &[StateChange::Iteration(row.clone())],
        )
        .await?;
        self.progress(n, Phase::Working).await;

        let shift = self.ctx.shift.clone();
        let mut events: Vec<String> = Vec::new();
        if self.repo_map.is_none() && self.ctx.spec.worker == nightshift_spec::WorkerKind::Builtin {
            let dir = self.wt.path().to_path_buf();
            self.repo_map =
                tokio::task::spawn_blocking(move || nightshift_agent::first_message_map(&dir))
                    .await
                    .ok();
        }
        let mut report = worker::WorkerReport::default();
        let scratch = shift.layout.scratch(&shift.spec.name, &self.ctx.spec.name);
        let started_ms = now_ms();
        let mut end = worker::run(
            IterationInput {
                job: &self.ctx.spec,
                worktree: self.wt.path(),
                gateway_v1: &shift.gateway_v1,
                token: &self.token,
                notes: &self.notes,
                repo_map: self.repo_map.as_deref(),
                n,
                time_limit: self.time_limit(),
                scratch: &scratch,
            },
            &mut |e| {
                if events.len() < 200 {
                    events.push(e);
                }
            },
            &mut report,
        )
        .await;
        if worker::cli(self.ctx.spec.worker).is_some() {
            let job = &self.ctx.spec.name;
            end = crate::external::reconcile_usage(
                &self.ctx.shift,
                &self.token_id,
                (job, n),
                started_ms,
                end,
                &report,
                &mut events,
            )
            .await?;
        }
        self.commit_and_judge(row, end, events, report.touched.as_deref())
            .await
    }

    /// Commit whatever the worker left, keep it under the factory's ref, gate it, and
    /// apply the verdict.
    async fn commit_and_judge(
        &mut self,
        mut row: IterationRow,
        end: WorkerEnd,
        events: Vec<String>,
        touched: Option<&[String]>,
    ) -> Result<Option<Stop>, FactoryError> {
        let n = row.n as u32;
        let (summary, claims_done, notes) = match &end {
            WorkerEnd::Finished {
                summary,
                claims_done,
                notes,
            } => (summary.clone(), *claims_done, notes.clone()),
            WorkerEnd::Budget { message } | WorkerEnd::Failed { message } => {
                (message.clone(), false, None)
            }
        };
        let message = format!(
            "nightshift: {} / {} iteration {n}\n\n{}",
            self.ctx.shift.spec.name,
            self.ctx.spec.name,
            summary.trim()
        );
        let keep = iteration_ref(&self.ctx.shift.spec.name, &self.ctx.spec.name, n);
        let commit = self
            .wt
            .commit_and_keep(&message, touched, Some(&keep))
            .await
            .map_err(|e| self.git(e))?;
        row.state = "committed".into();
        row.commit_sha = Some(commit.clone());
        row.worker_stop = Some(end.label().into());
        row.claims_done = claims_done;
        row.summary = Some(summary);
        row.notes = notes.clone();
        self.record(
            "iteration_committed",
            json!({"n": n, "commit": commit, "worker": end.label(), "events": events}),
            &[StateChange::Iteration(row.clone())],
        )
        .await?;
        if let Some(n) = notes {
            self.notes = n;
        }
        self.judge(row, Some(end)).await
    }

    /// Continue an iteration a crash interrupted.
    async fn resume(&mut self, row: IterationRow) -> Result<Option<Stop>, FactoryError> {
        match row.state.as_str() {
            "running" => {
                let end = WorkerEnd::Failed { message: "the factory stopped during this iteration; its work so far is kept and gated".into() };
                self.commit_and_judge(row, end, Vec::new(), None).await
            }
            _ => self.judge(row, None).await,
        }
    }

    async fn judge(
        &mut self,
        mut row: IterationRow,
        end: Option<WorkerEnd>,
    ) -> Result<Option<Stop>, FactoryError> {
        let n = row.n as u32;
        let commit = row.commit_sha.clone().unwrap_or_default();
        self.progress(n, Phase::Gating).await;
        let gating = std::time::Instant::now();
        let verdict: Verdict = judge(
            &self.ctx.spec.name,
            &self.wt,
            &self.ctx.spec.gates,
            &row.base_sha,
            &commit,
            row.claims_done,
        )
        .await?;
        // How long the gates took (reading the change from git, policy, commands): what the
        // factory's own overhead per iteration is measured without.
        let gate_ms = gating.elapsed().as_millis() as u64;
        let changed = verdict.files > 0;
        row.files = verdict.files as i64;
        row.insertions = verdict.insertions as i64;
        row.deletions = verdict.deletions as i64;
        row.finished_ms = Some(now_ms());
        let job = &mut self.ctx.row;
        job.iterations = row.n;
        if verdict.accepted {
            row.state = if changed {
                "accepted".into()
            } else {
                "verified".into()
            };
            if changed {
                job.accepted += 1;
                job.head_sha = Some(commit.clone());
                self.stall = 0;
            } else {
                self.stall += 1;
            }
        } else {
            row.state = "rejected".into();
            job.defects += 1;
            self.stall += 1;
        }
        let gates: Vec<GateRow> = verdict
            .results
            .iter()
            .map(|r| GateRow {
                gate: r.gate.clone(),
                passed: r.passed,
                duration_ms: r.duration_ms as i64,
                exit_code: r.exit_code.map(i64::from),
                timed_out: r.timed_out,
                detail: r.detail.clone(),
                excerpt: r.excerpt.clone(),
            })
            .collect();
        let failed: Vec<&str> = verdict
            .results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.gate.as_str())
            .collect();
        let changes = [
            StateChange::Iteration(row.clone()),
            StateChange::Gates {
                shift: row.shift.clone(),
                job: row.job.clone(),
                n: row.n,
                results: gates,
            },
            StateChange::Job(self.ctx.row.clone()),
        ];
        self.record("iteration_gated", json!({"n": n, "verdict": row.state, "failed_gates": failed, "done_verified": verdict.done_verified, "gate_ms": gate_ms}), &changes)
            .await?;
        // Bring the worktree to where the next iteration starts: the accepted commit, or
        // back to the base (a defect, or a verified iteration whose empty commit must not
        // stay on the branch). Gate output left in the worktree goes too, so it can never
        // be committed as the next iteration's change. Every commit stays under its ref.
        let next = if verdict.accepted && changed {
            &commit
        } else {
            &row.base_sha
        };
        // An accepted change with no command gate run leaves the worktree exactly at its
        // commit (everything the worker made was committed): no reset needed.
        if !(verdict.accepted && changed && !verdict.ran_commands) {
            self.wt.reset_to(next).await.map_err(|e| self.git(e))?;
        }
        self.head = next.clone();
        if verdict.accepted && verdict.reshaped {
            self.repo_map = None;
        }
        self.progress(
            n,
            if verdict.accepted {
                Phase::Accepted
            } else {
                Phase::Rejected
            },
        )
        .await;

        if verdict.accepted && row.claims_done && verdict.done_verified {
            return Ok(Some(Stop::Done));
        }
        if let Some(WorkerEnd::Budget { message }) = end {
            return Ok(Some(Stop::Budget(message)));
        }
        if !verdict.accepted && changed {
            if self.last_rejected_digest == Some(verdict.diff_digest) {
                return Ok(Some(Stop::Stalled(
                    "the same rejected change twice in a row".into(),
                )));
            }
            self.last_rejected_digest = Some(verdict.diff_digest);
        }
        Ok(None)
    }

    async fn finish(mut self, stop: Stop) -> Result<(), FactoryError> {
        let disk = self.wt.disk_usage().await.unwrap_or(0);
        // Landing: the branch goes back to the source repository, fast-forward only. A
        // refusal is reported as such; the work stays on the mirror's branch and refs.
        let landing = if self.ctx.row.accepted == 0 {
            "nothing".to_string()
        } else {
            match self.mirror.push_branch(&self.ctx.row.branch).await {
                Ok(()) => "pushed".to_string(),
                Err(e) => {
                    tracing::warn!(job = %self.ctx.spec.name, error = %e, "Landing failed.");
                    format!("failed: {e}")
                }
            }
        };
        let row = &mut self.ctx.row;
        row.landing = Some(landing.clone());
        row.state = "finished".into();
        row.stop_reason = Some(stop.reason().into());
        row.stop_detail = Some(stop.detail());
        row.finished_ms = Some(now_ms());
        let data = json!({"reason": stop.reason(), "detail": stop.detail(), "worktree_bytes": disk, "landing": landing});
        let changes = [StateChange::Job(self.ctx.row.clone())];
        self.record("job_finished", data, &changes).await?;
        self.progress(
            self.ctx.row.iterations as u32,
            Phase::Finished {
                reason: stop.reason().into(),
            },
        )
        .await;
        // Everything the worker made is committed before gating, so what is left untracked
        // now came from the gates (build output, caches): clear it. The branch and the
        // iteration refs hold all the work; the worktree can go. If it cannot go safely,
        // it stays and says why.
        if let Ok(head) = self.wt.head().await
            && let Err(e) = self.wt.reset_to(&head).await
        {
            tracing::warn!(job = %self.ctx.spec.name, error = %e, "Could not clear gate output from the worktree.");
        }
        if let Err(e) = self.wt.remove().await {
            tracing::warn!(job = %self.ctx.spec.name, error = %e, "Worktree kept.");
        }
        Ok(())
    }
}
