//! What every job of a running shift shares: the spec, the store, the gateway, the
//! shift's token, the layout, the live progress.

use std::sync::Arc;

use tokio::sync::mpsc;

use nightshift_gateway::GatewayState;
use nightshift_spec::ShiftSpec;
use nightshift_store::{Backend, StopReason, TokenRecord};

use crate::error::FactoryError;
use crate::layout::Layout;

/// What a job is doing, for a live display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Working,
    Gating,
    /// Waiting for a supervisor (or the line's rules) to resume it.
    Paused,
    Accepted,
    Rejected,
    Finished {
        reason: StopReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub job: String,
    pub iteration: u32,
    pub max_iterations: u32,
    pub phase: Phase,
    pub accepted: u32,
    pub defects: u32,
    pub spent_nanos: i64,
}

/// The gateway a shift's agents call, and the little the factory needs from it.
pub(crate) enum GatewayLink {
    /// This process's own, serving the shift on a loopback port.
    InProcess {
        state: Arc<GatewayState>,
        v1: String,
    },
    /// A running `nightshift gateway` on the same store (whose ledger reads catch up from
    /// its journal by themselves).
    Running { v1: String },
}

impl GatewayLink {
    /// Its OpenAI-compatible base URL (`http://HOST:PORT/v1`).
    pub fn v1(&self) -> &str {
        match self {
            Self::InProcess { v1, .. } | Self::Running { v1, .. } => v1,
        }
    }

    /// Make a token minted here known to the in-process gateway's budgets at once (a
    /// running gateway loads it on its first call).
    pub fn register(&self, token: &TokenRecord) {
        if let Self::InProcess { state, .. } = self {
            state.register(token);
        }
    }

    /// From the in-process gateway's budgets (reservations in flight included): what
    /// `token_id` has spent, and what it may still spend (the least left on its chain of
    /// budgets: a job's token is a child of the shift's). `None` with a running gateway.
    pub(crate) fn budgets(&self, token_id: &str) -> Option<(i64, i64)> {
        let Self::InProcess { state, .. } = self else {
            return None;
        };
        Some(
            state
                .budget_of(token_id)
                .map_or((0, 0), |b| (b.spent, b.left)),
        )
    }
}

/// Shared by every job of a running shift.
pub(crate) struct ShiftCtx {
    /// The supervisor's controls and the line's rules.
    pub line: Arc<crate::control::Line>,
    pub spec: ShiftSpec,
    pub store: Arc<dyn Backend>,
    pub gateway: GatewayLink,
    pub shift_token_id: String,
    pub layout: Layout,
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    /// About what an iteration's first call costs (the budget stop rule's threshold).
    pub min_call_nanos: i64,
    /// The sandbox as this host gives it; `None` with `[sandbox] mode = "off"`.
    pub sandbox: Option<crate::sandbox::Host>,
    /// Where each job's pull request lives (empty when the shift lands branches).
    pub landers: crate::landing::Landers,
    /// Held while a job checks the rollout limits and opens its pull request.
    pub landing_gate: Arc<tokio::sync::Mutex<()>>,
}

impl ShiftCtx {
    pub fn report(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(p);
        }
    }

    /// What a job's token has spent, and what it may still spend: the least of its own
    /// budget and the shift's. From the in-process gateway's budgets, or, with a running
    /// gateway, from the ledger.
    pub async fn budget(
        &self,
        token_id: &str,
        token_budget: i64,
    ) -> Result<(i64, i64), FactoryError> {
        if let Some(b) = self.gateway.budgets(token_id) {
            return Ok(b);
        }
        // Read for every progress report: the store's reads copy in only what the running
        // gateway has journalled since the last read, so this stays cheap.
        let by_token: std::collections::HashMap<String, i64> =
            self.store.spent_by_token().await?.into_iter().collect();
        let spent = by_token.get(token_id).copied().unwrap_or(0);
        let shift_spent: i64 = self
            .store
            .spend_by_job(&self.spec.name)
            .await?
            .iter()
            .map(|j| j.settled_nanos)
            .sum();
        Ok((
            spent,
            (token_budget - spent).min(self.spec.shift_nanos - shift_spent),
        ))
    }
}
