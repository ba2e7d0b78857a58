//! [`GateResult`]: what one gate found, stored by the factory as evidence.

use serde::{Deserialize, Serialize};

/// The most bytes an [`GateResult::excerpt`] holds.
pub const EXCERPT_MAX_BYTES: usize = 4096;

/// The outcome of one gate on one iteration's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate's name: a command gate's own name, or one of [`crate::GATE_NAMES`].
    pub gate: String,
    pub passed: bool,
    pub duration_ms: u64,
    /// A command's exit code; `None` for policy gates and for commands killed by a signal.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// what failed, one sentence a person can act on
    pub detail: String,
    /// evidence: tail of output / offending lines, at most ~4 KiB
    pub excerpt: String,
    /// Why a person should look at this result before the work lands, in one sentence; `None`
    /// normally. Set when the gate passed only because the policy allows what it found (the
    /// `tests-intact` gate under `allow_test_changes`): such a result is flagged, never
    /// silently accepted, and its evidence stays in `excerpt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

impl GateResult {
    /// A policy gate's result (no exit code, never timed out).
    pub(crate) fn policy(gate: &str, passed: bool, detail: String, excerpt: String) -> Self {
        Self {
            gate: gate.to_owned(),
            passed,
            duration_ms: 0,
            exit_code: None,
            timed_out: false,
            detail,
            excerpt: head_excerpt(&excerpt, EXCERPT_MAX_BYTES),
            review: None,
        }
    }
}

/// Whether every result passed (an empty list passes).
pub fn all_passed(results: &[GateResult]) -> bool {
    results.iter().all(|r| r.passed)
}

/// The largest index `<= i` that is a char boundary of `s`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest index `>= i` that is a char boundary of `s`.
fn ceil_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The end of `text`, at most `max` bytes, starting on a line boundary where one is near, with
/// a `…` line in front when something was cut.
pub fn tail_excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const MARK: &str = "…\n";
    let budget = max.saturating_sub(MARK.len());
    let mut start = ceil_boundary(text, text.len() - budget);
    // Start on a whole line when the cut line is not most of the budget.
    if let Some(nl) = text[start..].find('\n')
        && nl < budget / 2
        && start + nl + 1 < text.len()
    {
        start += nl + 1;
    }
    format!("{MARK}{}", &text[start..])
}

/// The start of `text`, at most `max` bytes, cut at a line boundary where one is near, with a
/// `…` line at the end when something was cut.
pub fn head_excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const MARK: &str = "\n…";
    let budget = max.saturating_sub(MARK.len());
    let mut end = floor_boundary(text, budget);
    if let Some(nl) = text[..end].rfind('\n')
        && nl > budget / 2
    {
        end = nl;
    }
    format!("{}{MARK}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_respect_the_limit_and_char_boundaries() {
        let text = "é".repeat(5000);
        let tail = tail_excerpt(&text, 101);
        assert!(tail.len() <= 101);
        assert!(tail.starts_with('…'));
        let head = head_excerpt(&text, 101);
        assert!(head.len() <= 101);
        assert!(head.ends_with('…'));
    }

    #[test]
    fn tail_starts_on_a_line() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let tail = tail_excerpt(&text, 100);
        assert!(tail.len() <= 100);
        assert!(tail.starts_with("…\nline "), "{tail}");
        assert!(tail.ends_with("line 999\n"));
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(tail_excerpt("abc", 10), "abc");
        assert_eq!(head_excerpt("abc", 10), "abc");
    }
}
