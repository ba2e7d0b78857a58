//! A call that finishes even when its client does not wait for it.
//!
//! A call reserves budget and, once sent, must settle and write its ledger row whatever
//! the client does. Running each call in a task of its own guaranteed that, at the price
//! of a spawn, a scheduler hop and a join for every call. Instead the call is polled in
//! the request's own task, and only if that task drops it unfinished (the client hung up)
//! is the rest of the call handed to a task of its own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(fut) = self.fut.as_mut() else {
            panic!("`Finish` polled after it completed");
        };
        let out = std::task::ready!(fut.as_mut().poll(cx));
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
        assert_eq!(Finish::new(async { 7 }).await, 7);
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
