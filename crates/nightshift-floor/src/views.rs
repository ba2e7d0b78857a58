//! What the floor shows, read from the store (the event log and its projection) as it
//! stands: the line, a shift with its jobs and what needs attention, a job with its
//! iterations. Nothing here is kept between requests.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use nightshift_spec::money::format_usd;

use nightshift_store::{
    Asked, Backend, Controls, Event, EventRow, GateRow, IterationRow, JobRow, JobSpend, JobState,
    LandingKind, ShiftRow, StopReason, StoreError,
};

/// A shift on the line.
#[derive(Debug, Serialize)]
pub struct ShiftView {
    pub name: String,
    pub state: nightshift_store::ShiftState,
    pub spec_path: String,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    pub paused: Option<Asked>,
    /// Jobs by state (`pending`, `running`, …), and how many there are.
    pub jobs: BTreeMap<String, u64>,
    pub jobs_total: u64,
    pub iterations: i64,
    pub accepted: i64,
    pub defects: i64,
    pub spent_nanos: i64,
    pub budget_nanos: i64,
    /// Dollars (in nanodollars) per accepted change; `None` before the first.
    pub nanos_per_accepted: Option<i64>,
}

/// A job of a shift, as its row says, with its spend and controls.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub name: String,
    pub state: JobState,
    pub source: String,
    pub branch: String,
    /// Iterations run so far (the job detail lists them as `iterations`).
    pub iteration: i64,
    pub accepted: i64,
    pub defects: i64,
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    pub landing: Option<nightshift_store::Landing>,
    pub pull: Option<nightshift_store::PullRef>,
    pub base_sha: Option<String>,
    pub head_sha: Option<String>,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub spent_nanos: i64,
    pub paused: Option<Asked>,
    pub killed: Option<Asked>,
}

/// One thing a supervisor should look at, and why in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attention {
    pub job: String,
    /// `stalled`, `repeated_defects`, `spending_fast`, `landing_failed`,
    /// `awaiting_review`, `sandbox_escape`, `killed`, `failed`, `paused`.
    pub kind: &'static str,
    pub reason: String,
    /// Higher first.
    pub rank: u8,
}

#[derive(Debug, Serialize)]
pub struct ShiftDetail {
    #[serde(flatten)]
    pub shift: ShiftView,
    pub needs_attention: Vec<Attention>,
    /// The jobs from `offset`, at most `limit` of them, in the spec's order.
    pub jobs_page: Vec<JobView>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Serialize)]
pub struct IterationView {
    #[serde(flatten)]
    pub row: IterationRow,
    pub gates: Vec<GateRow>,
    /// The worker's own events (tool calls, an agent CLI's lines), as committed.
    pub events: Vec<String>,
    /// Supervisor's notes given to this iteration.
    pub steered: Vec<String>,
    /// The model calls made while it worked (start to verdict), their tokens and cost.
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub spent_nanos: i64,
}

#[derive(Debug, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobView,
    pub iterations: Vec<IterationView>,
    /// The job's events (its history: starts, verdicts, controls, landing).
    pub history: Vec<EventRow>,
}

/// A shift's budget, from the spec it was started with.
pub(crate) fn budget_of(row: &ShiftRow) -> i64 {
    serde_json::from_str::<serde_json::Value>(&row.spec_json)
        .ok()
        .and_then(|v| v.get("shift_nanos").and_then(serde_json::Value::as_i64))
        .unwrap_or(0)
}

pub async fn shift_view(store: &dyn Backend, row: ShiftRow) -> Result<ShiftView, StoreError> {
    let jobs = store.jobs(&row.name).await?;
    let spend = store.spend_by_job(&row.name).await?;
    let controls = Controls::fold(&store.events_of(&row.name, "control").await?);
    Ok(summarize(row, &jobs, &spend, &controls))
}

fn summarize(row: ShiftRow, jobs: &[JobRow], spend: &[JobSpend], controls: &Controls) -> ShiftView {
    let mut by_state = BTreeMap::new();
    for j in jobs {
        *by_state.entry(j.state.to_string()).or_insert(0) += 1;
    }
    let accepted: i64 = jobs.iter().map(|j| j.accepted).sum();
    let spent: i64 = spend.iter().map(|s| s.settled_nanos).sum();
    ShiftView {
        budget_nanos: budget_of(&row),
        name: row.name,
        state: row.state,
        spec_path: row.spec_path,
        created_ms: row.created_ms,
        finished_ms: row.finished_ms,
        paused: controls.paused.clone(),
        jobs: by_state,
        jobs_total: jobs.len() as u64,
        iterations: jobs.iter().map(|j| j.iterations).sum(),
        accepted,
        defects: jobs.iter().map(|j| j.defects).sum(),
        spent_nanos: spent,
        nanos_per_accepted: (accepted > 0).then(|| spent / accepted),
    }
}

fn job_view(row: JobRow, spend: &[JobSpend], controls: &Controls) -> JobView {
    let s = spend
        .iter()
        .find(|s| s.job == row.name)
        .cloned()
        .unwrap_or_default();
    let c = controls.job(&row.name);
    JobView {
        calls: s.calls,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        spent_nanos: s.settled_nanos,
        paused: c.and_then(|c| c.paused.clone()),
        killed: c.and_then(|c| c.killed.clone()),
        name: row.name,
        state: row.state,
        source: without_credentials(&row.source),
        branch: row.branch,
        iteration: row.iterations,
        accepted: row.accepted,
        defects: row.defects,
        stop_reason: row.stop_reason,
        stop_detail: row.stop_detail,
        landing: row.landing,
        pull: row.pull,
        base_sha: row.base_sha,
        head_sha: row.head_sha,
        started_ms: row.started_ms,
        finished_ms: row.finished_ms,
    }
}

/// A repository URL as the floor shows it: without a user or password written into it
/// (`https://x-access-token:SECRET@host/…` shows as `https://host/…`).
fn without_credentials(source: &str) -> String {
    match source.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_a_source_url_are_not_shown() {
        use super::without_credentials as w;
        assert_eq!(
            w("https://x-access-token:ghp_1@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(w("https://github.com/o/r"), "https://github.com/o/r");
        assert_eq!(w("ssh://git@host:22/o/r"), "ssh://host:22/o/r");
        assert_eq!(w("/srv/repos/calc"), "/srv/repos/calc");
        assert_eq!(w("https://u:p@host"), "https://host");
    }
}

pub async fn shift_detail(
    store: &dyn Backend,
    row: ShiftRow,
    offset: usize,
    limit: usize,
) -> Result<ShiftDetail, StoreError> {
    let name = row.name.clone();
    let jobs = store.jobs(&name).await?;
    let spend = store.spend_by_job(&name).await?;
    let controls = Controls::fold(&store.events_of(&name, "control").await?);
    let gated = store.events_of(&name, "iteration_gated").await?;
    let blocked = store.events_of(&name, "sandbox_blocked").await?;
    let needs_attention = attention(&jobs, &spend, &controls, &gated, &blocked);
    let shift = summarize(row, &jobs, &spend, &controls);
    let jobs_page = jobs
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|j| job_view(j, &spend, &controls))
        .collect();
    Ok(ShiftDetail {
        shift,
        needs_attention,
        jobs_page,
        offset,
        limit,
    })
}

/// The same gate failing this many iterations in a row is worth a look.
const REPEATED_DEFECTS: usize = 3;

/// Jobs ranked by what a supervisor should look at first, each with the reason.
pub fn attention<'a>(
    jobs: &[JobRow],
    spend: &[JobSpend],
    controls: &Controls,
    gated: &'a [EventRow],
    blocked: &'a [EventRow],
) -> Vec<Attention> {
    let mut out = Vec::new();
    let mut push = |job: &str, kind: &'static str, rank: u8, reason: String| {
        out.push(Attention {
            job: job.to_string(),
            kind,
            reason,
            rank,
        });
    };
    // Spending faster than the median of the jobs that have spent anything.
    let mut spent: Vec<i64> = spend
        .iter()
        .map(|s| s.settled_nanos)
        .filter(|n| *n > 0)
        .collect();
    spent.sort_unstable();
    let median = spent.get(spent.len() / 2).copied().unwrap_or(0);
    // Each job's events, once: a thousand jobs each scanning every event was most of a
    // shift page's time.
    let by_job = |events: &'a [EventRow]| {
        let mut m: HashMap<&'a str, Vec<&'a Event>> = HashMap::new();
        for e in events {
            if let Some(job) = &e.job {
                m.entry(job.as_str()).or_default().push(&e.event);
            }
        }
        m
    };
    let gated = by_job(gated);
    let blocked = by_job(blocked);
    let spend_of: HashMap<&str, i64> = spend
        .iter()
        .map(|s| (s.job.as_str(), s.settled_nanos))
        .collect();
    let none = Vec::new();
    for j in jobs {
        let name = j.name.as_str();
        let own_gated = gated.get(name).unwrap_or(&none);
        if let Some(Event::SandboxBlocked { n, attempts }) =
            blocked.get(name).and_then(|b| b.last()).copied()
        {
            let what: Vec<String> = attempts
                .iter()
                .map(|a| format!("{} × {:?} by {}", a.count, a.kind, a.by))
                .collect();
            push(
                name,
                "sandbox_escape",
                90,
                format!(
                    "iteration {n} tried to leave its sandbox: {}",
                    what.join("; ")
                ),
            );
        }
        match j.landing.as_ref().map(nightshift_store::Landing::kind) {
            Some(LandingKind::Failed | LandingKind::CiFailed | LandingKind::Conflict) => {
                let landing = j.landing.as_ref();
                push(
                    name,
                    "landing_failed",
                    80,
                    format!(
                        "its landing ended `{}`: {}",
                        landing.map(|l| l.kind().to_string()).unwrap_or_default(),
                        landing.and_then(|l| l.detail()).unwrap_or("")
                    ),
                );
            }
            Some(LandingKind::ChangesRequested) => push(
                name,
                "awaiting_review",
                60,
                "a reviewer requested changes on its pull request".into(),
            ),
            _ => {}
        }
        match j.stop_reason {
            Some(StopReason::Stalled) => push(
                name,
                "stalled",
                70,
                format!(
                    "stalled: {}",
                    j.stop_detail
                        .as_deref()
                        .unwrap_or("no accepted change for several iterations")
                ),
            ),
            Some(StopReason::Failed) => push(
                name,
                "failed",
                85,
                format!("failed: {}", j.stop_detail.as_deref().unwrap_or("")),
            ),
            Some(StopReason::Killed) => push(
                name,
                "killed",
                40,
                j.stop_detail.clone().unwrap_or_else(|| "killed".into()),
            ),
            _ => {}
        }
        let verdicts: Vec<&Vec<String>> = own_gated
            .iter()
            .filter_map(|e| match e {
                Event::IterationGated { failed_gates, .. } => Some(failed_gates),
                _ => None,
            })
            .collect();
        if verdicts.len() >= REPEATED_DEFECTS {
            let last = &verdicts[verdicts.len() - REPEATED_DEFECTS..];
            if let Some(gate) = last[0].iter().find(|g| last.iter().all(|f| f.contains(g))) {
                push(
                    name,
                    "repeated_defects",
                    75,
                    format!("gate `{gate}` failed its last {REPEATED_DEFECTS} iterations"),
                );
            }
        }
        let review: Option<&Vec<String>> = own_gated.iter().rev().find_map(|e| match e {
            Event::IterationGated { review, .. } if !review.is_empty() => Some(review),
            _ => None,
        });
        if let Some(review) = review
            && j.state != JobState::Finished
        {
            push(
                name,
                "awaiting_review",
                50,
                format!("passed, but wants a person to look: {}", review.join(", ")),
            );
        }
        let own = spend_of.get(name).copied().unwrap_or(0);
        if spent.len() >= 3 && median > 0 && own > 2 * median && j.state != JobState::Finished {
            push(
                name,
                "spending_fast",
                65,
                format!(
                    "spent {}, more than twice the median job's {}",
                    format_usd(own),
                    format_usd(median)
                ),
            );
        }
        if let Some(p) = controls.job(name).and_then(|c| c.paused.as_ref())
            && j.state != JobState::Finished
        {
            push(name, "paused", 30, format!("paused by {}", p.by));
        }
    }
    out.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.job.cmp(&b.job)));
    out
}

pub async fn job_detail(
    store: &dyn Backend,
    shift: &str,
    row: JobRow,
) -> Result<JobDetail, StoreError> {
    let spend = store.spend_by_job(shift).await?;
    let history = store.job_events(shift, &row.name).await?;
    let controls = Controls::fold(&history);
    let iterations = store.iterations(shift, &row.name).await?;
    let calls = store.ledger_rows_of_job(shift, &row.name).await?;
    let mut views = Vec::with_capacity(iterations.len());
    for it in iterations {
        // A call belongs to the iteration whose worker was at work when it was made: from
        // its start until the next one's.
        let until = it.finished_ms.unwrap_or(i64::MAX);
        let own: Vec<&nightshift_store::LedgerRow> = calls
            .iter()
            .filter(|c| c.ts_ms >= it.started_ms && c.ts_ms <= until)
            .collect();
        let gates = store.gate_results(shift, &row.name, it.n).await?;
        let events = history
            .iter()
            .find_map(|e| match &e.event {
                Event::IterationCommitted { n, events, .. } if i64::from(*n) == it.n => {
                    Some(events.clone())
                }
                _ => None,
            })
            .unwrap_or_default();
        views.push(IterationView {
            steered: steered(&history, it.n),
            calls: own.len() as i64,
            input_tokens: own.iter().map(|c| c.input_tokens).sum(),
            output_tokens: own.iter().map(|c| c.output_tokens).sum(),
            spent_nanos: own.iter().map(|c| c.settled_nanos).sum(),
            row: it,
            gates,
            events,
        });
    }
    Ok(JobDetail {
        job: job_view(row, &spend, &controls),
        iterations: views,
        history,
    })
}

/// The steer notes iteration `n` was given: those between the previous iteration's start
/// and its own.
fn steered(history: &[EventRow], n: i64) -> Vec<String> {
    let start_of = |k: i64| {
        history.iter().rev().find_map(|e| match e.event {
            Event::IterationStarted { n, .. } if i64::from(n) == k => Some(e.seq),
            _ => None,
        })
    };
    let Some(own) = start_of(n) else {
        return Vec::new();
    };
    let before = start_of(n - 1).unwrap_or(0);
    history
        .iter()
        .filter(|e| e.seq > before && e.seq < own)
        .filter_map(|e| match &e.event {
            Event::Control {
                action: nightshift_store::Control::Steer { note },
                ..
            } => Some(note.clone()),
            _ => None,
        })
        .collect()
}

/// The ledger's totals grouped `by` `shift` (a label chain's root), `job` (the whole label
/// chain, `shift/job`) or `model`; `None` for any other grouping.
pub async fn ledger(
    store: &dyn Backend,
    by: &str,
) -> Result<Option<Vec<nightshift_store::TotalRow>>, StoreError> {
    use nightshift_store::{GroupBy, TotalRow};
    Ok(Some(match by {
        "model" => store.totals(GroupBy::Model).await?,
        "job" => store.totals(GroupBy::Label).await?,
        "shift" => {
            let mut by_shift: BTreeMap<String, TotalRow> = BTreeMap::new();
            for t in store.totals(GroupBy::Label).await? {
                let shift = t.key.split('/').next().unwrap_or("").to_string();
                by_shift
                    .entry(shift.clone())
                    .or_insert_with(|| TotalRow::zero(shift))
                    .add(&t);
            }
            by_shift.into_values().collect()
        }
        _ => return Ok(None),
    }))
}

/// One moment of a shift: its jobs by state and what it had spent.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Moment {
    pub ts_ms: i64,
    pub pending: u64,
    pub running: u64,
    pub finished: u64,
    pub spent_nanos: i64,
}

/// A shift over time at `points` evenly spaced moments from its start to its end (or now):
/// jobs by state (from its `job_started` and `job_finished` events; a requeued job is
/// running again from its next start) and its spend (from the ledger).
pub async fn timeline(
    store: &dyn Backend,
    row: &ShiftRow,
    points: usize,
    now_ms: i64,
) -> Result<Vec<Moment>, StoreError> {
    let jobs = store.jobs(&row.name).await?.len() as u64;
    let mut changes: Vec<(i64, &str, bool)> = Vec::new();
    let started = store.events_of(&row.name, "job_started").await?;
    let finished = store.events_of(&row.name, "job_finished").await?;
    for e in &started {
        changes.push((e.ts_ms, e.job.as_deref().unwrap_or(""), false));
    }
    for e in &finished {
        changes.push((e.ts_ms, e.job.as_deref().unwrap_or(""), true));
    }
    changes.sort_by_key(|c| c.0);
    let start = row.created_ms;
    let end = row.finished_ms.unwrap_or(now_ms).max(start + 1);
    let points = points.clamp(2, 500);
    // The ledger summed by the store in steps finer than the points: a step is counted
    // once it is over (up to a step late), and the last point counts every call.
    let step = ((end - start) / (points as i64 * 4)).max(1);
    let spend = store.spend_over_time(&row.name, step).await?;
    let mut state: HashMap<&str, bool> = HashMap::new();
    let (mut c, mut s, mut spent) = (0, 0, 0i64);
    let mut out = Vec::with_capacity(points);
    for i in 0..points {
        let ts = start + (end - start) * i as i64 / (points as i64 - 1);
        while c < changes.len() && changes[c].0 <= ts {
            state.insert(changes[c].1, changes[c].2);
            c += 1;
        }
        while s < spend.len() && (spend[s].0 + step <= ts || i == points - 1) {
            spent += spend[s].1;
            s += 1;
        }
        let finished = state.values().filter(|f| **f).count() as u64;
        let running = state.len() as u64 - finished;
        out.push(Moment {
            ts_ms: ts,
            pending: jobs.saturating_sub(running + finished),
            running,
            finished,
            spent_nanos: spent,
        });
    }
    Ok(out)
}
