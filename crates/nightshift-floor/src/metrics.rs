//! `/metrics`: the Prometheus text exposition, built from the store at each scrape (the
//! floor keeps no counters of its own: the ledger and the event log are the figures).
//! Money is in integer nanodollars, as everywhere in nightshift.

use std::collections::BTreeMap;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use nightshift_store::{Backend, Controls, IterationState, JobState, StoreError};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const ITERATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
const CALL_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
}

struct Families {
    calls: IntCounterVec,
    tokens: IntCounterVec,
    spent: IntCounterVec,
    iterations: IntCounterVec,
    gates: IntCounterVec,
    jobs: IntGaugeVec,
    paused: IntGaugeVec,
    budget_left: IntGaugeVec,
    iteration_seconds: HistogramVec,
    call_seconds: HistogramVec,
    // Registered last: only a gauge of the scrape itself.
    shifts: GaugeVec,
}

fn families(r: &Registry) -> Result<Families, prometheus::Error> {
    let counter =
        |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(c.clone()))?;
            Ok(c)
        };
    let gauge =
        |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            r.register(Box::new(g.clone()))?;
            Ok(g)
        };
    let histogram = |name: &str,
                     help: &str,
                     labels: &[&str],
                     buckets: &[f64]|
     -> Result<HistogramVec, prometheus::Error> {
        let h = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )?;
        r.register(Box::new(h.clone()))?;
        Ok(h)
    };
    let shifts = GaugeVec::new(
        Opts::new("nightshift_shifts", "Shifts in the store, by state."),
        &["state"],
    )?;
    r.register(Box::new(shifts.clone()))?;
    Ok(Families {
        calls: counter(
            "nightshift_model_calls_total",
            "Model calls through the gateway, by model, shift and outcome.",
            &["model", "shift", "outcome"],
        )?,
        tokens: counter(
            "nightshift_tokens_total",
            "Tokens billed, by model, shift and kind (input, cached_input, cache_write, output, reasoning).",
            &["model", "shift", "kind"],
        )?,
        spent: counter(
            "nightshift_spent_nanodollars_total",
            "Settled spend in nanodollars (1e-9 USD), by model and shift.",
            &["model", "shift"],
        )?,
        iterations: counter(
            "nightshift_iterations_total",
            "Iterations, by shift and outcome (running, committed, accepted, verified, rejected).",
            &["shift", "outcome"],
        )?,
        gates: counter(
            "nightshift_gate_results_total",
            "Gate results, by shift, gate and result (passed, failed).",
            &["shift", "gate", "result"],
        )?,
        jobs: gauge(
            "nightshift_jobs",
            "Jobs, by shift and state.",
            &["shift", "state"],
        )?,
        paused: gauge(
            "nightshift_shift_paused",
            "1 when the shift is paused (by a supervisor or the line's rules).",
            &["shift"],
        )?,
        budget_left: gauge(
            "nightshift_budget_remaining_nanodollars",
            "What is left of the shift's budget, in nanodollars.",
            &["shift"],
        )?,
        iteration_seconds: histogram(
            "nightshift_iteration_duration_seconds",
            "Iterations' wall-clock time from start to verdict, by shift.",
            &["shift"],
            ITERATION_BUCKETS,
        )?,
        call_seconds: histogram(
            "nightshift_model_call_duration_seconds",
            "Model calls' latency as the gateway measured it, by model.",
            &["model"],
            CALL_BUCKETS,
        )?,
        shifts,
    })
}

/// The shift a ledger row belongs to: the root of its label chain (a shift's token is the
/// root of its jobs' tokens, and is labelled with the shift's name).
fn shift_of(label_chain: &str) -> &str {
    label_chain.split('/').next().unwrap_or("")
}

/// The exposition of everything the store holds now.
pub async fn render(store: &dyn Backend) -> Result<String, MetricsError> {
    let registry = Registry::new();
    let f = families(&registry)?;
    let shifts = store.shifts().await?;
    let mut by_state: BTreeMap<&str, f64> = BTreeMap::new();
    let mut spent_by_shift: BTreeMap<String, i64> = BTreeMap::new();
    for row in store.ledger_rows().await? {
        let shift = shift_of(&row.label_chain).to_string();
        let model = row.model.as_str();
        f.calls
            .with_label_values(&[model, &shift, row.outcome.as_str()])
            .inc();
        for (kind, n) in [
            ("input", row.input_tokens),
            ("cached_input", row.cached_input_tokens),
            ("cache_write", row.cache_write_tokens),
            ("output", row.output_tokens),
            ("reasoning", row.reasoning_tokens),
        ] {
            f.tokens
                .with_label_values(&[model, &shift, kind])
                .inc_by(u64::try_from(n).unwrap_or(0));
        }
        f.spent
            .with_label_values(&[model, &shift])
            .inc_by(u64::try_from(row.settled_nanos).unwrap_or(0));
        f.call_seconds
            .with_label_values(&[model])
            .observe(row.latency_ms as f64 / 1000.0);
        *spent_by_shift.entry(shift).or_default() += row.settled_nanos;
    }
    for s in &shifts {
        let name = s.name.as_str();
        *by_state.entry(s.state.as_str()).or_default() += 1.0;
        let jobs = store.jobs(name).await?;
        for state in JobState::ALL {
            let n = jobs.iter().filter(|j| j.state == *state).count();
            f.jobs
                .with_label_values(&[name, state.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for it in store.shift_iterations(name).await? {
            f.iterations
                .with_label_values(&[name, it.state.as_str()])
                .inc();
            if let Some(done) = it.finished_ms
                && it.state != IterationState::Running
            {
                f.iteration_seconds
                    .with_label_values(&[name])
                    .observe((done - it.started_ms).max(0) as f64 / 1000.0);
            }
        }
        for g in store.gate_tallies(name).await? {
            for (result, n) in [("passed", g.passed), ("failed", g.failed)] {
                f.gates
                    .with_label_values(&[name, &g.gate, result])
                    .inc_by(u64::try_from(n).unwrap_or(0));
            }
        }
        let controls = Controls::fold(&store.events_of(name, "control").await?);
        f.paused
            .with_label_values(&[name])
            .set(i64::from(controls.paused.is_some()));
        let budget = crate::views::budget_of(s);
        let spent = spent_by_shift.get(name).copied().unwrap_or(0);
        f.budget_left
            .with_label_values(&[name])
            .set((budget - spent).max(0));
    }
    for (state, n) in by_state {
        f.shifts.with_label_values(&[state]).set(n);
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
