//! What the sandbox refused during an iteration: recorded as a `sandbox_blocked` event, and
//! a failing `sandbox` gate in the verdict. An agent (or a test it wrote) that tries to get
//! out, or runs into a limit, made a defect worth a supervisor's look, whatever its other
//! gates say.

use nightshift_gates::GateResult;
use nightshift_process::sandbox::{Blocked, Seen};
use nightshift_store::{BlockedAttempt, BlockedKind, Event};

use super::state::Loop;
use crate::error::FactoryError;

/// The gate a sandbox refusal fails.
pub(crate) const SANDBOX_GATE: &str = "sandbox";

/// Record what the sandbox refused in iteration `n`, and the failing gate it makes
/// (`None` when nothing was refused).
pub(crate) async fn take(l: &Loop, n: u32) -> Result<Option<GateResult>, FactoryError> {
    let Some(kit) = &l.kit else {
        return Ok(None);
    };
    let seen = kit.take_evidence();
    if seen.is_empty() {
        return Ok(None);
    }
    let attempts: Vec<BlockedAttempt> = seen.iter().map(attempt).collect();
    let excerpt = attempts
        .iter()
        .map(|a| {
            format!(
                "{} × {}: {} ({})",
                a.count,
                kind_name(a.kind),
                a.detail,
                a.by
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let total: u64 = attempts.iter().map(|a| a.count).sum();
    l.record(Event::SandboxBlocked { n, attempts }, &[]).await?;
    Ok(Some(GateResult {
        gate: SANDBOX_GATE.into(),
        passed: false,
        duration_ms: 0,
        exit_code: None,
        timed_out: false,
        detail: format!(
            "the sandbox refused {total} attempt{} during this iteration (see the evidence)",
            if total == 1 { "" } else { "s" }
        ),
        excerpt,
        review: None,
    }))
}

fn attempt(s: &Seen) -> BlockedAttempt {
    let kind = match &s.blocked {
        Blocked::Processes { .. } => BlockedKind::Processes,
        Blocked::Memory { .. } => BlockedKind::Memory,
        Blocked::FileSize => BlockedKind::FileSize,
        Blocked::Path { .. } => BlockedKind::Path,
        Blocked::Disk { .. } => BlockedKind::Disk,
        Blocked::Connect { .. } => BlockedKind::Network,
        Blocked::Syscall { .. } => BlockedKind::Syscall,
    };
    BlockedAttempt {
        kind,
        count: s.blocked.count(),
        by: s.by.clone(),
        detail: s.blocked.to_string(),
    }
}

fn kind_name(k: BlockedKind) -> &'static str {
    match k {
        BlockedKind::Processes => "processes",
        BlockedKind::Memory => "memory",
        BlockedKind::FileSize => "file size",
        BlockedKind::Path => "path",
        BlockedKind::Disk => "disk",
        BlockedKind::Network => "network",
        BlockedKind::Syscall => "system call",
    }
}
