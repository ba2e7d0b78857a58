//! The reviewer gates (`[[gates.review]]`): after every other gate passed, each reviewer
//! model reads the change through the gateway, with a token under the job's (its dollars
//! are in the ledger and in the job's budget, and counted apart as review cost). A
//! rejection is a defect whose findings go to the job's next iteration, as a person's
//! review comments would; a verdict that does not read, twice, is a gate error.

use nightshift_agent::review::{self, Decision, Review, ReviewInput};
use nightshift_clock::now_ms;
use nightshift_gates::GateResult;
use nightshift_spec::ReviewSpec;
use nightshift_store::StateChange;
use serde::{Deserialize, Serialize};

use super::state::Loop;
use crate::error::FactoryError;

/// The token label of a job's reviewer calls: how the ledger tells review dollars apart.
pub const REVIEW_LABEL: &str = "review";

/// A reviewer's figures, kept with its gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewFigures {
    pub model: String,
    pub verdict: Option<Decision>,
    pub findings: Vec<review::Finding>,
    /// Parts the diff was reviewed in.
    pub parts: usize,
    /// What the review cost, from the gateway's settled spend of its token.
    pub spent_nanos: i64,
}

/// The job's review token, minted on first use (under the job's token, with what is left
/// of it) and recorded as one of the job's tokens.
async fn token(l: &mut Loop) -> Result<(String, String), FactoryError> {
    if let Some(t) = &l.review_token {
        return Ok(t.clone());
    }
    let (_, left) = l.shift.budget(&l.token_id, l.token_budget).await?;
    let minted = nightshift_gateway::mint(
        l.shift.store.as_ref(),
        REVIEW_LABEL,
        left.max(0),
        Some(&l.token_id),
        None,
        now_ms(),
    )
    .await?;
    l.shift.gateway.register(&minted.record);
    l.shift
        .store
        .record(
            &l.shift.spec.name,
            Some(&l.spec.name),
            &nightshift_store::Event::ReviewerStarted {
                budget_left_nanos: left,
            },
            now_ms(),
            &[StateChange::JobToken {
                shift: l.shift.spec.name.clone(),
                job: l.spec.name.clone(),
                token_id: minted.record.id.clone(),
            }],
        )
        .await?;
    let t = (minted.token, minted.record.id);
    l.review_token = Some(t.clone());
    Ok(t)
}

/// Run every reviewer on the diff `base..commit`; each answers one gate, with its figures.
pub(crate) async fn run(
    l: &mut Loop,
    (base, commit): (&str, &str),
) -> Result<Vec<(GateResult, String)>, FactoryError> {
    let reviewers: Vec<ReviewSpec> = l.spec.gates.review.clone();
    if reviewers.is_empty() {
        return Ok(Vec::new());
    }
    let diff = l.mirror.diff(base, commit).await.map_err(|e| l.git(e))?;
    let guidance = nightshift_agent::guidance(l.wt.path(), 16 * 1024);
    let (secret, id) = token(l).await?;
    let mut out = Vec::new();
    for r in reviewers {
        let started = std::time::Instant::now();
        let before = l.shift.gateway.budgets(&id).map_or(0, |b| b.0);
        let cfg = nightshift_agent::AgentConfig {
            base_url: l.shift.gateway.v1().to_owned(),
            token: secret.clone(),
            model: r.model.clone(),
            max_turns: r.max_turns,
            max_tokens: None,
            command_timeout: std::time::Duration::from_secs(1),
            max_tool_output_bytes: nightshift_agent::DEFAULT_MAX_TOOL_OUTPUT_BYTES,
            process_tag: None,
            sandbox: None,
        };
        let input = ReviewInput {
            prompt: r.prompt.as_deref().unwrap_or(review::DEFAULT_REVIEW_PROMPT),
            recipe: &l.spec.prompt,
            guidance: &guidance,
            diff: &diff,
            max_diff_tokens: r.max_diff_tokens,
        };
        let outcome = review::review(&cfg, l.wt.path(), &input).await;
        let spent = l.shift.gateway.budgets(&id).map_or(0, |b| b.0) - before;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        out.push(result(&r, outcome, spent, ms));
    }
    Ok(out)
}

fn result(r: &ReviewSpec, outcome: Review, spent: i64, duration_ms: u64) -> (GateResult, String) {
    let mut figures = ReviewFigures {
        model: r.model.clone(),
        verdict: None,
        findings: Vec::new(),
        parts: 0,
        spent_nanos: spent,
    };
    let (passed, detail, excerpt) = match outcome {
        Review::Done { verdict, parts } => {
            figures.verdict = Some(verdict.verdict);
            figures.parts = parts;
            let lines: Vec<String> = verdict
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{}:{}: {}/{}: {}",
                        f.file,
                        f.line,
                        f.severity.as_str(),
                        f.category.as_str(),
                        f.message
                    )
                })
                .collect();
            figures.findings = verdict.findings;
            let n = figures.findings.len();
            let approve = verdict.verdict == Decision::Approve;
            let detail = format!(
                "`{}` {} the change{}: {}",
                r.model,
                if approve { "approved" } else { "rejected" },
                if n == 0 {
                    String::new()
                } else {
                    format!(" with {n} finding{}", if n == 1 { "" } else { "s" })
                },
                verdict.summary.trim()
            );
            (approve, detail, lines.join("\n"))
        }
        Review::Malformed { message } => (
            false,
            format!(
                "`{}` gave no verdict that reads, twice ({message}): a gate error, not a pass",
                r.model
            ),
            String::new(),
        ),
        Review::Failed { message } => (
            false,
            format!("`{}` could not review the change: {message}", r.model),
            String::new(),
        ),
    };
    let gate = GateResult {
        gate: r.name.clone(),
        passed,
        duration_ms,
        exit_code: None,
        timed_out: false,
        detail,
        excerpt,
        review: None,
    };
    (gate, serde_json::to_string(&figures).unwrap_or_default())
}

/// What the next iteration is told of the reviewers that rejected this one.
pub(crate) fn feedback(results: &[GateResult], reviewers: &[ReviewSpec]) -> Option<String> {
    let rejected: Vec<&GateResult> = results
        .iter()
        .filter(|g| !g.passed && reviewers.iter().any(|r| r.name == g.gate))
        .collect();
    if rejected.is_empty() {
        return None;
    }
    let mut out = String::from(
        "## A reviewer rejected the last change\n\nThe change was not kept. Address every finding, then finish again.\n",
    );
    for g in rejected {
        out.push_str(&format!("\n{}\n", g.detail));
        if !g.excerpt.is_empty() {
            out.push_str(&format!("{}\n", g.excerpt));
        }
    }
    Some(out)
}
