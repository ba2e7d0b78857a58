//! The pull request's title and body, made from the job's accepted iterations: what
//! changed (the workers' summaries), the gates that passed with their evidence, the diff,
//! the iterations, tokens and dollars. Pure: the same history gives the same text, so a
//! second run that changed nothing leaves the pull request as it was.

use nightshift_spec::money::format_usd;
use nightshift_store::{GateRow, IterationRow, IterationState, JobSpend};

/// The most characters of a gate's evidence quoted in the body.
const EXCERPT: usize = 600;

/// What the body is made from.
pub(crate) struct Evidence<'a> {
    pub shift: &'a str,
    pub job: &'a str,
    pub prompt: &'a str,
    pub iterations: &'a [IterationRow],
    /// The gates of the last accepted iteration.
    pub gates: &'a [GateRow],
    pub spend: Option<&'a JobSpend>,
    /// Base and head of the branch: files changed, lines added and removed.
    pub diff: (i64, i64, i64),
}

/// `(title, body)` in GitHub-flavoured Markdown (GitLab and Gitea render it too).
pub(crate) fn describe(e: &Evidence<'_>) -> (String, String) {
    let accepted: Vec<&IterationRow> = e
        .iterations
        .iter()
        .filter(|i| i.state == IterationState::Accepted)
        .collect();
    let first_line = e
        .prompt
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let title = format!("nightshift({}): {}", e.job, shorten(first_line.trim(), 72));
    let mut b = String::new();
    b.push_str(&format!(
        "Made by nightshift, shift `{}`, job `{}`: {} of {} iterations accepted.\n\n",
        e.shift,
        e.job,
        accepted.len(),
        e.iterations.len()
    ));
    b.push_str("## What changed\n\n");
    for i in &accepted {
        let summary = i.summary.as_deref().unwrap_or("(no summary)");
        b.push_str(&format!(
            "- iteration {}: {} ({} files, +{} −{})\n",
            i.n,
            one_line(summary),
            i.files,
            i.insertions,
            i.deletions
        ));
    }
    let (files, plus, minus) = e.diff;
    b.push_str(&format!(
        "\nIn all: {files} files changed, +{plus} −{minus}.\n\n"
    ));
    b.push_str("## Gates passed\n\n");
    if e.gates.is_empty() {
        b.push_str("No gate commands are configured for this recipe.\n");
    }
    for g in e.gates {
        b.push_str(&format!(
            "- `{}`: {} in {} ms{}\n",
            g.gate,
            if g.passed { "passed" } else { "failed" },
            g.duration_ms,
            g.review
                .as_deref()
                .map(|r| format!(" — needs a person's look: {r}"))
                .unwrap_or_default()
        ));
        let excerpt = g.excerpt.trim();
        if !excerpt.is_empty() {
            b.push_str(&format!(
                "\n  ```\n{}\n  ```\n",
                indent(&tail(excerpt, EXCERPT))
            ));
        }
    }
    b.push_str("\n## Cost\n\n");
    match e.spend {
        Some(s) => b.push_str(&format!(
            "{} model calls, {} input and {} output tokens, {}.\n",
            s.calls,
            s.input_tokens,
            s.output_tokens,
            format_usd(s.settled_nanos)
        )),
        None => b.push_str("No model calls.\n"),
    }
    (title, b)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn one_line(s: &str) -> String {
    shorten(&s.split_whitespace().collect::<Vec<_>>().join(" "), 200)
}

fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let kept: String = s.chars().skip(n - max).collect();
    format!("…{kept}")
}

fn indent(s: &str) -> String {
    // Fences are closed by the text's own backticks otherwise.
    s.replace("```", "'''")
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(n: i64, state: IterationState, summary: &str) -> IterationRow {
        IterationRow {
            shift: "s".into(),
            job: "calc".into(),
            n,
            state,
            base_sha: "b".into(),
            commit_sha: Some("c".into()),
            worker_stop: None,
            claims_done: true,
            summary: Some(summary.into()),
            notes: None,
            files: 1,
            insertions: 2,
            deletions: 1,
            started_ms: 0,
            finished_ms: Some(1),
        }
    }

    #[test]
    fn the_body_holds_the_accepted_work_its_gates_and_its_cost() {
        let iterations = [
            it(1, IterationState::Rejected, "broke it"),
            it(2, IterationState::Accepted, "fixed add\nand more"),
        ];
        let gates = [GateRow {
            gate: "tests".into(),
            passed: true,
            duration_ms: 120,
            exit_code: Some(0),
            timed_out: false,
            detail: String::new(),
            excerpt: "Ran 1 test\n\nOK".into(),
            review: None,
            figures: None,
        }];
        let spend = JobSpend {
            job: "calc".into(),
            calls: 4,
            input_tokens: 12_200,
            output_tokens: 120,
            settled_nanos: 12_680_000,
        };
        let (title, body) = describe(&Evidence {
            shift: "s",
            job: "calc",
            prompt: "\nMake the failing test pass.\nMore words.",
            iterations: &iterations,
            gates: &gates,
            spend: Some(&spend),
            diff: (1, 2, 1),
        });
        assert_eq!(title, "nightshift(calc): Make the failing test pass.");
        assert_eq!(
            body,
            "Made by nightshift, shift `s`, job `calc`: 1 of 2 iterations accepted.\n\n## What changed\n\n- iteration 2: fixed add and more (1 files, +2 −1)\n\nIn all: 1 files changed, +2 −1.\n\n## Gates passed\n\n- `tests`: passed in 120 ms\n\n  ```\n  Ran 1 test\n  \n  OK\n  ```\n\n## Cost\n\n4 model calls, 12200 input and 120 output tokens, $0.01268.\n"
        );
    }
}
