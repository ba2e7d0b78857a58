//! Where a job picks up after a stop or a crash, as pure functions of its iterations.

use nightshift_store::{IterationRow, IterationState};

/// What to do with a job's history before its next iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// No iteration ran yet: start from the worktree as it is.
    Fresh,
    /// The last iteration has its verdict; the reset after it may not have happened before
    /// the stop, so bring the worktree to where the next iteration starts (the accepted
    /// commit, or the last iteration's base).
    ResetTo(String),
    /// The factory stopped while the worker was at work: what it left in the worktree is
    /// committed, kept and judged, not redone.
    CommitAndJudge(IterationRow),
    /// The factory stopped after the commit, before the verdict: judge it.
    Judge(IterationRow),
}

/// The plan for a job whose iterations (in order) are `history`.
pub(crate) fn plan(history: &[IterationRow]) -> Plan {
    let Some(last) = history.last() else {
        return Plan::Fresh;
    };
    match last.state {
        IterationState::Running => Plan::CommitAndJudge(last.clone()),
        IterationState::Committed => Plan::Judge(last.clone()),
        IterationState::Accepted => Plan::ResetTo(
            last.commit_sha
                .clone()
                .unwrap_or_else(|| last.base_sha.clone()),
        ),
        IterationState::Verified | IterationState::Rejected => Plan::ResetTo(last.base_sha.clone()),
    }
}

/// Iterations in a row, at the end, without an accepted change (an interrupted one counts:
/// it has no verdict yet, and gets one before the stall rule is next read).
pub(crate) fn stall(history: &[IterationRow]) -> u32 {
    let n = history
        .iter()
        .rev()
        .take_while(|i| i.state != IterationState::Accepted)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The progress notes the last iteration that left any left.
pub(crate) fn notes(history: &[IterationRow]) -> String {
    history
        .iter()
        .rev()
        .find_map(|i| i.notes.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(
        n: i64,
        state: IterationState,
        commit: Option<&str>,
        notes: Option<&str>,
    ) -> IterationRow {
        IterationRow {
            shift: "s".into(),
            job: "j".into(),
            n,
            state,
            base_sha: format!("base{n}"),
            commit_sha: commit.map(str::to_string),
            worker_stop: None,
            claims_done: false,
            summary: None,
            notes: notes.map(str::to_string),
            files: 0,
            insertions: 0,
            deletions: 0,
            started_ms: 0,
            finished_ms: None,
        }
    }

    #[test]
    fn plans() {
        use IterationState::*;
        let accepted = it(1, Accepted, Some("c1"), None);
        let cases = vec![
            ("nothing ran", vec![], Plan::Fresh),
            (
                "after an accepted change: its commit",
                vec![accepted.clone()],
                Plan::ResetTo("c1".into()),
            ),
            (
                "after a defect: its base",
                vec![accepted.clone(), it(2, Rejected, Some("c2"), None)],
                Plan::ResetTo("base2".into()),
            ),
            (
                "after a verified iteration: its base",
                vec![it(1, Verified, Some("c1"), None)],
                Plan::ResetTo("base1".into()),
            ),
            (
                "interrupted while working",
                vec![accepted.clone(), it(2, Running, None, None)],
                Plan::CommitAndJudge(it(2, Running, None, None)),
            ),
            (
                "interrupted before its verdict",
                vec![it(1, Committed, Some("c1"), None)],
                Plan::Judge(it(1, Committed, Some("c1"), None)),
            ),
        ];
        for (name, history, want) in cases {
            assert_eq!(plan(&history), want, "{name}");
        }
    }

    #[test]
    fn stall_counts_back_to_the_last_accepted_change() {
        use IterationState::*;
        let h = [
            it(1, Rejected, None, None),
            it(2, Accepted, Some("c"), None),
            it(3, Rejected, None, None),
            it(4, Verified, None, None),
            it(5, Running, None, None),
        ];
        assert_eq!(stall(&h), 3);
        assert_eq!(stall(&h[..2]), 0);
        assert_eq!(stall(&h[..1]), 1);
        assert_eq!(stall(&[]), 0);
    }

    #[test]
    fn notes_come_from_the_last_iteration_that_left_some() {
        use IterationState::*;
        let h = [
            it(1, Accepted, None, Some("first")),
            it(2, Accepted, None, Some("second")),
            it(3, Rejected, None, None),
        ];
        assert_eq!(notes(&h), "second");
        assert_eq!(notes(&[]), "");
    }
}
