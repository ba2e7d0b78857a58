//! A call that finishes even when its client does not wait for it.
//!
//! A call reserves budget and, once sent, must settle and write its ledger row whatever
//! the client does. So each call runs in a task of its own, and the request's handler
//! only awaits that task's `JoinHandle`: a client that hangs up drops the handler, and
//! dropping a `JoinHandle` detaches its task rather than cancelling it, so the call runs
//! on to its settlement. A call that panics (a bug) ends its task; the panic is caught by
//! the runtime, never resumed here, and its client gets a 500. Its reservation, dropped
//! with the task, is released.

use std::future::Future;

/// The call panicked (a bug), or the runtime shut down under it: its client gets a 500.
#[derive(Debug, PartialEq, Eq)]
pub struct Panicked;

/// Run `call` to its end in a task of its own, and wait for it.
pub async fn to_the_end<F>(call: F) -> Result<F::Output, Panicked>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[expect(
        clippy::disallowed_methods,
        reason = "a call must settle and write its ledger row even when its client hangs up: \
                  the handler awaits this task, and a client that goes away only detaches it"
    )]
    let task = tokio::spawn(call);
    task.await.map_err(|e| {
        if e.is_panic() {
            tracing::error!("A call panicked; its client gets a 500.");
        }
        Panicked
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::{Panicked, to_the_end};

    #[tokio::test]
    async fn a_finished_call_gives_its_output() {
        assert_eq!(to_the_end(async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panic_in_the_call_is_an_error_not_an_unwind() {
        let out = to_the_end(async {
            if Some(1).is_some() {
                panic!("a bug in a call");
            }
            7
        })
        .await;
        assert_eq!(out, Err(Panicked));
    }

    #[tokio::test]
    async fn a_call_whose_waiter_gives_up_still_runs_to_its_end() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let call = to_the_end(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            flag.store(true, Ordering::SeqCst);
        });
        // The awaiting side gives up first, as a client that hangs up does.
        let gave_up = tokio::time::timeout(Duration::from_millis(1), call).await;
        assert!(gave_up.is_err());
        assert!(!done.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(done.load(Ordering::SeqCst));
    }
}
