//! Budgets that hold under any concurrency.
//!
//! Each token has a limit and may have a parent whose limit also applies. A call reserves
//! before it runs — its input cost plus the output the tightest budget in its chain can
//! still pay for — and the request's output cap is clamped to that, so the reservation is
//! the most the call can cost. The reservation is made on every budget of the chain under
//! one lock, so two calls can never both take the last dollar. Settling replaces the
//! reservation with the real cost.
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

/// What a successful reservation holds until it is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    chain: Vec<Arc<str>>,
    /// Nanodollars held on every budget of the chain.
    pub amount: i64,
    /// Output tokens the call may produce: the request's cap after clamping.
    pub output_cap: u64,
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
    nodes: Mutex<HashMap<Arc<str>, BudgetNode>>,
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

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, BudgetNode>> {
        // A panic while holding this lock leaves plain integers behind; they are still
        // consistent at every await-free step, so recovering the guard is safe.
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
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

    fn chain_of(nodes: &HashMap<Arc<str>, BudgetNode>, id: &str) -> Option<Vec<Arc<str>>> {
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
            chain,
            amount,
            output_cap,
        })
    }

    /// Replace a reservation with the real cost.
    pub fn settle(&self, r: &Reservation, cost: i64) {
        let mut nodes = self.lock();
        for key in &r.chain {
            if let Some(n) = nodes.get_mut(key) {
                n.reserved -= r.amount;
                n.spent += cost;
            }
        }
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
        b.settle(&r, 300_000);
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
        assert_eq!(b.reserve("zzz", ask(1, 1, 1)), Err(Refusal::UnknownToken));
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
                        for _ in 0..1000 {
                            if let Ok(r) = b.reserve("t", ask(1_000, 1_000_000, 10)) {
                                sum += r.amount;
                            }
                        }
                        sum
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(granted, 1_000_000 - b.get("t").map_or(0, |n| n.left()));
        assert!(granted <= 1_000_000);
    }
}
