//! A call that finishes even when its client does not wait for it.
//!
//! A call reserves budget and, once sent, must settle and write its ledger row whatever
//! the client does. Running each call in a task of its own guaranteed that, at the price
//! of a spawn, a scheduler hop and a join for every call. Instead the call is polled in
//! the request's own task, and only if that task drops it unfinished (the client hung up)
//! is the rest of the call handed to a task of its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The call panicked (a bug): its client gets a 500, as from a task that panicked.
#[derive(Debug, PartialEq, Eq)]
pub struct Panicked;

/// `fut`, run to completion even if what awaits it is dropped first.
pub struct Finish<F: Future + Send + 'static>
where
    F::Output: Send,
{
    fut: Option<Pin<Box<F>>>,
}

impl<F: Future + Send + 'static> Finish<F>
where
    F::Output: Send,
{
    pub fn new(fut: F) -> Self {
        Self {
            fut: Some(Box::pin(fut)),
        }
    }
}

impl<F: Future + Send + 'static> Future for Finish<F>
where
    F::Output: Send,
{
    /// The future's output, or `Err` if it panicked (as a task's join would say).
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(Err(Panicked));
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        let out = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(_) => Err(Panicked),
        };
        // Finished either way: a panicked future must not be polled (or handed off) again.
        self.fut = None;
        Poll::Ready(out)
    }
}

impl<F: Future + Send + 'static> Drop for Finish<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take()
            && !std::thread::panicking()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            tracing::debug!(
                "The client went away before its call ended; finishing it in the background."
            );
            #[expect(
                clippy::disallowed_methods,
                reason = "a call must finish and settle even when its client disconnects"
            )]
            tokio::spawn(fut);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::Finish;

    #[tokio::test]
    async fn a_finished_future_gives_its_output() {
        assert_eq!(Finish::new(async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panic_in_the_future_is_an_error_not_an_unwind() {
        let out = Finish::new(async {
            if Some(1).is_some() {
                panic!("a bug in a call");
            }
            7
        })
        .await;
        assert_eq!(out, Err(super::Panicked));
    }

    #[tokio::test]
    async fn a_future_dropped_unfinished_still_runs_to_its_end() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let call = Finish::new(async move {
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
