//! How a pull request's checks and reviews read: settled green or red, still running, or
//! no CI at all; and what a fix iteration is told about them. Pure, so every case is a
//! unit test; `job::pull` does the waiting.

use nightshift_forge::{Check, CheckState, Feedback, FeedbackKind};

/// The most characters of one failing check's log given to a fix iteration.
const LOG_EXCERPT: usize = 3000;
/// The longest wait between two looks at the checks.
const MAX_POLL_MS: u64 = 60_000;

/// Where a head's checks stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Every check passed.
    Green,
    /// Every check finished and these failed.
    Red(Vec<Check>),
    /// No check appeared within the grace: the repository has no CI; taken as green.
    NoCi,
    /// Some are still running (or none has appeared yet, within the grace).
    Waiting,
    /// The watch's time is up with checks still running.
    TimedOut,
}

/// Read the checks seen `waited_ms` after the head was pushed.
pub(crate) fn settle(checks: &[Check], waited_ms: u64, grace_ms: u64, timeout_ms: u64) -> Watch {
    if checks.is_empty() {
        return if waited_ms >= grace_ms {
            Watch::NoCi
        } else {
            Watch::Waiting
        };
    }
    if checks.iter().any(|c| c.state == CheckState::Pending) {
        return if waited_ms >= timeout_ms {
            Watch::TimedOut
        } else {
            Watch::Waiting
        };
    }
    let failed: Vec<Check> = checks
        .iter()
        .filter(|c| c.state == CheckState::Failure)
        .cloned()
        .collect();
    if failed.is_empty() {
        Watch::Green
    } else {
        Watch::Red(failed)
    }
}

/// The wait before the next look: doubling from the first, at most a minute.
pub(crate) fn next_poll(previous_ms: u64) -> u64 {
    previous_ms.saturating_mul(2).clamp(1, MAX_POLL_MS)
}

/// What a CI fix iteration is told: each failing check, its summary, its log's end.
pub(crate) fn ci_feedback(number: u64, failed: &[Check]) -> String {
    let mut out = format!(
        "The pull request #{number} for this work failed its CI. Fix what made these checks fail, keeping the change's purpose:\n"
    );
    for c in failed {
        out.push_str(&format!("\n### {} failed\n", c.name));
        if !c.summary.trim().is_empty() {
            out.push_str(&format!("{}\n", c.summary.trim()));
        }
        if let Some(log) = c.log_excerpt.as_deref().filter(|l| !l.trim().is_empty()) {
            out.push_str(&format!(
                "\nIts log ends:\n```\n{}\n```\n",
                tail(log.trim_end(), LOG_EXCERPT)
            ));
        }
    }
    out
}

/// The feedback that asks for changes, newest review first: `None` when no reviewer asks
/// for any (the latest review of each author decides, as on the forges).
pub(crate) fn review_feedback(number: u64, items: &[Feedback]) -> Option<String> {
    let mut latest: Vec<(&str, FeedbackKind)> = Vec::new();
    for f in items.iter().filter(|f| f.kind != FeedbackKind::Commented) {
        match latest.iter_mut().find(|(a, _)| *a == f.author) {
            Some(slot) => slot.1 = f.kind,
            None => latest.push((&f.author, f.kind)),
        }
    }
    if !latest
        .iter()
        .any(|(_, k)| *k == FeedbackKind::ChangesRequested)
    {
        return None;
    }
    let mut out = format!(
        "A reviewer asked for changes on pull request #{number} for this work. Make them:\n"
    );
    for f in items {
        let at = match (&f.path, f.line) {
            (Some(p), Some(l)) => format!(" on {p}:{l}"),
            (Some(p), None) => format!(" on {p}"),
            _ => String::new(),
        };
        out.push_str(&format!("\n- {}{at}: {}\n", f.author, f.body.trim()));
    }
    Some(out)
}

fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    s.chars().skip(n - max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, state: CheckState) -> Check {
        Check {
            name: name.into(),
            state,
            summary: format!("{name} summary"),
            log_excerpt: Some("line 1\nexpected 4, got 5".into()),
            url: None,
        }
    }

    #[test]
    fn checks_settle_green_red_waiting_or_not_at_all() {
        use CheckState::*;
        let grace = 120_000;
        let timeout = 1_800_000;
        assert_eq!(settle(&[], 1_000, grace, timeout), Watch::Waiting);
        assert_eq!(settle(&[], 120_000, grace, timeout), Watch::NoCi);
        let running = [check("a", Success), check("b", Pending)];
        assert_eq!(settle(&running, 5_000, grace, timeout), Watch::Waiting);
        assert_eq!(settle(&running, 1_800_000, grace, timeout), Watch::TimedOut);
        assert_eq!(
            settle(&[check("a", Success)], 5_000, grace, timeout),
            Watch::Green
        );
        let red = [check("a", Success), check("b", Failure)];
        assert_eq!(
            settle(&red, 5_000, grace, timeout),
            Watch::Red(vec![check("b", Failure)])
        );
    }

    #[test]
    fn the_wait_doubles_up_to_a_minute() {
        let mut at = 5_000;
        let mut seen = vec![at];
        for _ in 0..6 {
            at = next_poll(at);
            seen.push(at);
        }
        assert_eq!(
            seen,
            [5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]
        );
    }

    #[test]
    fn a_fix_is_told_the_failing_checks_and_their_logs() {
        let text = ci_feedback(7, &[check("ci/test", CheckState::Failure)]);
        assert_eq!(
            text,
            "The pull request #7 for this work failed its CI. Fix what made these checks fail, keeping the change's purpose:\n\n### ci/test failed\nci/test summary\n\nIts log ends:\n```\nline 1\nexpected 4, got 5\n```\n"
        );
    }

    #[test]
    fn only_a_standing_request_for_changes_asks_for_a_fix() {
        let f = |author: &str, kind, body: &str| Feedback {
            id: body.into(),
            kind,
            author: author.into(),
            body: body.into(),
            path: None,
            line: None,
        };
        let asked = [
            f("ann", FeedbackKind::ChangesRequested, "Print 4."),
            f("bob", FeedbackKind::Commented, "Nice."),
        ];
        assert_eq!(
            review_feedback(3, &asked).as_deref(),
            Some(
                "A reviewer asked for changes on pull request #3 for this work. Make them:\n\n- ann: Print 4.\n\n- bob: Nice.\n"
            )
        );
        let later_approved = [
            f("ann", FeedbackKind::ChangesRequested, "Print 4."),
            f("ann", FeedbackKind::Approved, "Good now."),
        ];
        assert_eq!(review_feedback(3, &later_approved), None);
        assert_eq!(review_feedback(3, &[]), None);
    }
}
