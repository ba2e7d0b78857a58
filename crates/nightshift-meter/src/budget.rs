//! Budgets that hold under any concurrency.
//!
//! Each token has a limit and may have a parent whose limit also applies. A call reserves
//! before it runs — its input cost plus the output the tightest budget in its chain can
//! still pay for — and the request's output cap is clamped to that, so the reservation is
//! the most the call can cost. The reservation is made on every budget of the chain under
//! one lock, so two calls can never both take the last dollar. Settling replaces the
//! reservation with the real cost.
//!
//! A [`Reservation`] is a guard, like `tokio::sync::SemaphorePermit`: dropped unsettled (an
//! error path, a panic, a task cancelled), it gives its amount back to every budget of its
//! chain; [`Reservation::settle`] consumes it, so nothing is released or counted twice.
//!
//! Overshoot bound: a settled cost exceeds its reservation only when the upstream reports
//! more input tokens than the estimate or more output tokens than the cap it was sent.
//! With the default estimate (one token per request byte, plus an allowance for hidden
//! prompt tokens) and an upstream that honours the cap, the bound is zero.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One budget: a token's limit and what has been spent and reserved against it, including
/// by its descendants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetNode {
    pub label: String,
    pub limit: i64,
    pub spent: i64,
    pub reserved: i64,
    pub parent: Option<Arc<str>>,
}

impl BudgetNode {
    pub fn left(&self) -> i64 {
        self.limit - self.spent - self.reserved
    }
}

type Nodes = HashMap<Arc<str>, BudgetNode>;

/// What a successful reservation holds until it is settled. Dropping it unsettled releases
/// the amount on every budget of its chain.
#[must_use = "a reservation dropped at once is released at once"]
pub struct Reservation {
    nodes: Arc<Mutex<Nodes>>,
    /// The budgets it holds `amount` on; emptied once settled or released.
    chain: Vec<Arc<str>>,
    /// Nanodollars held on every budget of the chain.
    pub amount: i64,
    /// Output tokens the call may produce: the request's cap after clamping.
    pub output_cap: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("chain", &self.chain)
            .field("amount", &self.amount)
            .field("output_cap", &self.output_cap)
            .finish()
    }
}

impl Reservation {
    /// Replace the reservation with the real cost, on every budget of its chain.
    pub fn settle(mut self, cost: i64) {
        self.apply(cost);
    }

    fn apply(&mut self, cost: i64) {
        let chain = std::mem::take(&mut self.chain);
        if chain.is_empty() {
            return;
        }
        let mut nodes = lock(&self.nodes);
        for key in &chain {
            if let Some(n) = nodes.get_mut(key) {
                n.reserved -= self.amount;
                n.spent += cost;
            }
        }
    }
}

impl Drop for Reservation {
    /// Unsettled: nothing was spent, so the whole amount goes back.
    fn drop(&mut self) {
        self.apply(0);
    }
}

/// What a token may still spend, as its budgets stand now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetView {
    /// The token's own limit.
    pub limit: i64,
    /// Settled on the token, its own calls and its descendants'.
    pub spent: i64,
    /// Held on the token by calls in flight.
    pub reserved: i64,
    /// The most a call on this token can still reserve: the least left on any budget of
    /// its chain (its own, its parent's, …), never below zero.
    pub left: i64,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown token")]
    UnknownToken,
    #[error(
        "budget `{label}` cannot pay for this call: {left} nanodollars left of {limit} ({spent} spent, {reserved} held by calls in flight); this call needs at least {needed} ({input_tokens} input tokens estimated and 1 output token)"
    )]
    Exhausted {
        label: String,
        limit: i64,
        spent: i64,
        reserved: i64,
        left: i64,
        needed: i64,
        input_tokens: u64,
    },
}

/// The budgets of every token, in memory. The store is the record; this is the lock.
#[derive(Debug, Default)]
pub struct Budgets {
    /// Shared with every reservation, which needs it to give its amount back.
    nodes: Arc<Mutex<Nodes>>,
}

fn lock(nodes: &Mutex<Nodes>) -> MutexGuard<'_, Nodes> {
    // A panic while holding this lock leaves plain integers behind; they are still
    // consistent at every await-free step, so recovering the guard is safe.
    nodes.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a reservation asks for.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub input_tokens: u64,
    /// Cost of the input, already computed at the worst input price.
    pub input_cost: i64,
    /// Worst price of one output token, per million.
    pub output_per_mtok: i64,
    /// The most output the call may want (client cap, else the model's ceiling).
    pub want_output: u64,
}

impl Budgets {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Nodes> {
        lock(&self.nodes)
    }

    /// Add (or replace) a budget. `spent` is what the ledger already holds for it and its
    /// descendants.
    pub fn insert(&self, id: &str, label: &str, limit: i64, parent: Option<&str>, spent: i64) {
        let node = BudgetNode {
            label: label.to_string(),
            limit,
            spent,
            reserved: 0,
            parent: parent.map(Arc::from),
        };
        self.lock().insert(Arc::from(id), node);
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<BudgetNode> {
        self.lock().get(id).cloned()
    }

    /// What `id` has spent and may still spend, its whole chain considered.
    pub fn view(&self, id: &str) -> Option<BudgetView> {
        let nodes = self.lock();
        let own = nodes.get(id)?;
        let chain = Self::chain_of(&nodes, id)?;
        let left = chain
            .iter()
            .filter_map(|k| nodes.get(k))
            .map(BudgetNode::left)
            .min()
            .unwrap_or(0);
        Some(BudgetView {
            limit: own.limit,
            spent: own.spent,
            reserved: own.reserved,
            left: left.max(0),
        })
    }

    fn chain_of(nodes: &Nodes, id: &str) -> Option<Vec<Arc<str>>> {
        let mut chain = Vec::new();
        let mut cur = nodes.get_key_value(id)?.0.clone();
        loop {
            if chain.len() > 64 || chain.contains(&cur) {
                break; // a cycle cannot be made through the store; stop anyway
            }
            chain.push(cur.clone());
            match nodes.get(&cur).and_then(|n| n.parent.clone()) {
                Some(p) if nodes.contains_key(&p) => cur = p,
                _ => break,
            }
        }
        Some(chain)
    }

    /// Reserve for one call on `id` and all its ancestors, atomically.
    pub fn reserve(&self, id: &str, ask: Ask) -> Result<Reservation, Refusal> {
        let mut nodes = self.lock();
        let chain = Self::chain_of(&nodes, id).ok_or(Refusal::UnknownToken)?;
        let one_output = crate::Price::tokens_cost(1, ask.output_per_mtok);
        let needed = ask.input_cost + one_output;
        let mut tightest: Option<&BudgetNode> = None;
        for key in &chain {
            let n = &nodes[key];
            if tightest.is_none_or(|t| n.left() < t.left()) {
                tightest = Some(n);
            }
        }
        let Some(t) = tightest else {
            return Err(Refusal::UnknownToken);
        };
        let left = t.left();
        if left < needed {
            return Err(Refusal::Exhausted {
                label: t.label.clone(),
                limit: t.limit,
                spent: t.spent,
                reserved: t.reserved,
                left: left.max(0),
                needed,
                input_tokens: ask.input_tokens,
            });
        }
        let output_cap = if ask.output_per_mtok == 0 {
            ask.want_output
        } else {
            let affordable =
                (i128::from(left - ask.input_cost) * 1_000_000) / i128::from(ask.output_per_mtok);
            u64::try_from(affordable)
                .unwrap_or(u64::MAX)
                .min(ask.want_output)
        };
        let amount = ask.input_cost + crate::Price::tokens_cost(output_cap, ask.output_per_mtok);
        for key in &chain {
            if let Some(n) = nodes.get_mut(key) {
                n.reserved += amount;
            }
        }
        Ok(Reservation {
            nodes: self.nodes.clone(),
            chain,
            amount,
            output_cap,
        })
    }

    /// Sum of what is still held by calls in flight, over every budget.
    pub fn total_reserved(&self) -> i64 {
        self.lock().values().map(|n| n.reserved).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(input_cost: i64, out: i64, want: u64) -> Ask {
        Ask {
            input_tokens: 10,
            input_cost,
            output_per_mtok: out,
            want_output: want,
        }
    }

    #[test]
    fn clamps_output_to_what_the_tightest_budget_can_pay() {
        let b = Budgets::new();
        b.insert("shift", "shift", 1_000_000, None, 0);
        b.insert("job", "job", 10_000_000, Some("shift"), 0);
        // $2/Mtok output = 2000 nanos per token; 1_000_000 - 100_000 input leaves 450 tokens.
        let r = b
            .reserve("job", ask(100_000, 2_000_000_000, 4096))
            .expect("fits");
        assert_eq!(r.output_cap, 450);
        assert_eq!(r.amount, 1_000_000);
        assert_eq!(b.get("shift").map(|n| n.left()), Some(0));
        // Nothing left on the parent: the next call is refused, naming the parent.
        let err = b
            .reserve("job", ask(100_000, 2_000_000_000, 4096))
            .unwrap_err();
        assert!(
            matches!(&err, Refusal::Exhausted { label, left: 0, needed: 102_000, .. } if label == "shift"),
            "{err:?}"
        );
        r.settle(300_000);
        assert_eq!(
            b.get("shift").map(|n| (n.spent, n.reserved)),
            Some((300_000, 0))
        );
        assert_eq!(
            b.get("job").map(|n| (n.spent, n.reserved)),
            Some((300_000, 0))
        );
        assert_eq!(b.total_reserved(), 0);
    }

    #[test]
    fn a_token_never_reaches_a_siblings_budget() {
        let b = Budgets::new();
        b.insert("shift", "shift", 100_000_000, None, 0);
        b.insert("a", "a", 1_000, Some("shift"), 0);
        b.insert("b", "b", 50_000_000, Some("shift"), 0);
        assert!(b.reserve("a", ask(2_000, 1_000, 10)).is_err());
        assert!(b.reserve("b", ask(2_000, 1_000, 10)).is_ok());
        assert_eq!(
            b.reserve("zzz", ask(1, 1, 1)).err(),
            Some(Refusal::UnknownToken)
        );
    }

    #[test]
    fn free_models_keep_the_asked_cap() {
        let b = Budgets::new();
        b.insert("t", "t", 0, None, 0);
        let r = b.reserve("t", ask(0, 0, 777)).expect("free");
        assert_eq!((r.output_cap, r.amount), (777, 0));
    }

    #[test]
    fn concurrent_reservations_never_oversubscribe() {
        let b = Arc::new(Budgets::new());
        b.insert("t", "t", 1_000_000, None, 0);
        let granted: i64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let b = b.clone();
                    s.spawn(move || {
                        let mut sum = 0;
                        let mut held = Vec::new();
                        for _ in 0..1000 {
                            if let Ok(r) = b.reserve("t", ask(1_000, 1_000_000, 10)) {
                                sum += r.amount;
                                held.push(r);
                            }
                        }
                        // Held until every thread is done reserving, so none is released
                        // early and reserved again.
                        (sum, held)
                    })
                })
                .collect();
            let held: Vec<(i64, Vec<Reservation>)> =
                hs.into_iter().map(|h| h.join().expect("thread")).collect();
            let granted = held.iter().map(|(sum, _)| sum).sum();
            assert_eq!(granted, 1_000_000 - b.get("t").map_or(0, |n| n.left()));
            granted
        });
        // 1,010 nanodollars a call (1,000 input, 10 output tokens): 990 calls fit, and the
        // 100 left cannot pay for the next call's input.
        assert_eq!(granted, 990 * 1_010);
        assert_eq!(b.total_reserved(), 0, "all released when dropped");
    }

    #[test]
    fn a_reservation_dropped_unsettled_releases_every_budget_of_its_chain() {
        let b = Budgets::new();
        b.insert("shift", "shift", 1_000_000, None, 0);
        b.insert("job", "job", 500_000, Some("shift"), 0);
        let r = b.reserve("job", ask(1_000, 1_000_000, 100)).expect("fits");
        assert_eq!(r.amount, 1_100);
        let held = |id: &str| b.get(id).map(|n| (n.spent, n.reserved));
        assert_eq!(
            (held("shift"), held("job")),
            (Some((0, 1_100)), Some((0, 1_100)))
        );
        drop(r);
        assert_eq!((held("shift"), held("job")), (Some((0, 0)), Some((0, 0))));
    }

    #[test]
    fn a_settled_reservation_counts_its_cost_once_and_releases_nothing_more() {
        let b = Budgets::new();
        b.insert("shift", "shift", 1_000_000, None, 0);
        b.insert("job", "job", 500_000, Some("shift"), 0);
        let r = b.reserve("job", ask(1_000, 1_000_000, 100)).expect("fits");
        let other = b.reserve("job", ask(1_000, 1_000_000, 100)).expect("fits");
        r.settle(700);
        // Settling consumed it: no drop runs afterwards to release its amount again, which
        // would take the other call's reservation off the books.
        let node = |id: &str| b.get(id).expect("budget");
        assert_eq!((node("shift").spent, node("shift").reserved), (700, 1_100));
        assert_eq!((node("job").spent, node("job").reserved), (700, 1_100));
        other.settle(1_100);
        assert_eq!(
            b.view("job"),
            Some(BudgetView {
                limit: 500_000,
                spent: 1_800,
                reserved: 0,
                left: 498_200
            })
        );
    }

    #[test]
    fn a_panic_while_a_reservation_is_held_releases_it() {
        let b = Budgets::new();
        b.insert("t", "t", 1_000_000, None, 0);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _r = b.reserve("t", ask(1_000, 1_000_000, 100)).expect("fits");
            assert_eq!(b.total_reserved(), 1_100);
            panic!("a bug while the call is in flight");
        }));
        assert!(unwound.is_err());
        assert_eq!(
            b.get("t").map(|n| (n.spent, n.reserved)),
            Some((0, 0)),
            "released during the unwind"
        );
    }

    #[test]
    fn a_view_is_the_tightest_budget_of_the_chain() {
        let b = Budgets::new();
        b.insert("shift", "shift", 1_000, None, 600);
        b.insert("job", "job", 5_000, Some("shift"), 100);
        assert_eq!(
            b.view("job"),
            Some(BudgetView {
                limit: 5_000,
                spent: 100,
                reserved: 0,
                left: 400
            })
        );
        b.insert("over", "over", 10, None, 50);
        assert_eq!(b.view("over").map(|v| v.left), Some(0), "never below zero");
        assert_eq!(b.view("nobody"), None);
    }
}
