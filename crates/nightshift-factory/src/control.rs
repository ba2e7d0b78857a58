//! The line as a running shift obeys it: the supervisor's controls, read from the event
//! log (where the floor and `nightshift pause|resume|kill|steer|requeue` append them, from
//! this process or another) every [`POLL`], and the shift's own `[line]` rules, which pause
//! it when its defect rate or its failed landings pass their thresholds.
//!
//! The log is the one source: a control appended while no run was up is obeyed by the
//! next run, so a `kill -9` loses none.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use nightshift_clock::now_ms;
use nightshift_spec::LineSpec;
use nightshift_spec::money::format_usd;
use nightshift_store::{Backend, Control, Controls, Event};

use crate::error::FactoryError;

/// How often a running shift reads new controls from the store.
pub const POLL: Duration = Duration::from_millis(250);

/// What the line's rules have seen since the shift was last resumed.
#[derive(Default)]
struct Window {
    /// The latest judged iterations, newest last: `true` for a defect.
    verdicts: VecDeque<bool>,
    failed_landings: u32,
}

pub(crate) struct Line {
    store: Arc<dyn Backend>,
    shift: String,
    rules: LineSpec,
    tx: watch::Sender<Controls>,
    /// The last event read, held while reading so that two reads never apply one event
    /// twice.
    cursor: Mutex<i64>,
    window: std::sync::Mutex<Window>,
}

impl Line {
    /// The shift's controls as its log stands now.
    pub async fn open(
        store: Arc<dyn Backend>,
        shift: &str,
        rules: LineSpec,
    ) -> Result<Arc<Self>, FactoryError> {
        // Only the shift's controls up to the log's end as read first (not its whole log:
        // a thousand jobs' iterations); the polls go on from there, so none is applied
        // twice and none is missed.
        let last = store.last_seq().await?;
        let controls = store.events_of(shift, "control").await?;
        let mut now = Controls::fold(controls.iter().filter(|e| e.seq <= last));
        now.last_seq = last;
        let line = Arc::new(Self {
            store,
            shift: shift.to_string(),
            rules,
            tx: watch::Sender::new(now),
            cursor: Mutex::new(last),
            window: std::sync::Mutex::new(Window::default()),
        });
        line.refresh().await?;
        Ok(line)
    }

    /// Read the controls appended since the last read.
    pub async fn refresh(&self) -> Result<(), FactoryError> {
        let mut cursor = self.cursor.lock().await;
        let rows = self.store.events(&self.shift, *cursor).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        *cursor = last.seq;
        let resumed = rows.iter().any(|r| {
            r.job.is_none()
                && matches!(
                    r.event,
                    Event::Control {
                        action: Control::Resume,
                        ..
                    }
                )
        });
        if resumed && let Ok(mut w) = self.window.lock() {
            // A supervisor resumed the line: its rules count afresh.
            *w = Window::default();
        }
        self.tx.send_modify(|c| {
            for r in &rows {
                c.apply(r);
            }
        });
        Ok(())
    }

    /// Read controls every [`POLL`] until the returned guard is dropped.
    pub fn watch(self: &Arc<Self>) -> Poller {
        let line = Arc::downgrade(self);
        #[expect(
            clippy::disallowed_methods,
            reason = "the poller lives as long as the shift's run; aborted when its guard drops"
        )]
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let Some(line) = line.upgrade() else { return };
                if let Err(e) = line.refresh().await {
                    tracing::warn!(error = %e, "Could not read the shift's controls.");
                }
            }
        });
        Poller(task)
    }

    pub fn subscribe(&self) -> watch::Receiver<Controls> {
        self.tx.subscribe()
    }

    pub fn now(&self) -> Controls {
        self.tx.borrow().clone()
    }

    /// An iteration was judged: the defect-rate rule reads it.
    pub async fn judged(&self, defect: bool) -> Result<(), FactoryError> {
        let Some(max) = self.rules.max_defect_percent else {
            return Ok(());
        };
        let window = usize::try_from(self.rules.defect_window).unwrap_or(usize::MAX);
        let tripped = {
            let Ok(mut w) = self.window.lock() else {
                return Ok(());
            };
            w.verdicts.push_back(defect);
            while w.verdicts.len() > window {
                w.verdicts.pop_front();
            }
            let defects = w.verdicts.iter().filter(|d| **d).count();
            (w.verdicts.len() == window && defects * 100 >= window * max as usize).then(|| {
                format!(
                    "{defects} of the shift's last {window} iterations were defects (line.max_defect_percent = {max})"
                )
            })
        };
        match tripped {
            Some(reason) => self.stop(reason).await,
            None => Ok(()),
        }
    }

    /// A call may have been paid for: the spend-rate rule reads what the shift spent over
    /// its window (from the ledger), against `max_usd_per_hour` over that window.
    pub async fn spent(&self) -> Result<(), FactoryError> {
        let Some(per_hour) = self.rules.max_nanos_per_hour else {
            return Ok(());
        };
        let minutes = i64::from(self.rules.spend_window_minutes);
        let spent = self
            .store
            .spent_since(&self.shift, now_ms() - minutes * 60_000)
            .await?;
        // The most the window may hold at that rate, in integers: no rounding up.
        let allowed =
            i64::try_from(i128::from(per_hour) * i128::from(minutes) / 60).unwrap_or(i64::MAX);
        if spent > allowed {
            return self
                .stop(format!(
                    "the shift spent {} in the last {minutes} minutes, faster than {} an hour (line.max_usd_per_hour)",
                    format_usd(spent),
                    format_usd(per_hour)
                ))
                .await;
        }
        Ok(())
    }

    /// A job's landing failed: the failed-landings rule reads it.
    pub async fn landing_failed(&self) -> Result<(), FactoryError> {
        let Some(max) = self.rules.max_failed_landings else {
            return Ok(());
        };
        let failed = match self.window.lock() {
            Ok(mut w) => {
                w.failed_landings += 1;
                w.failed_landings
            }
            Err(_) => return Ok(()),
        };
        if failed > max {
            return self
                .stop(format!(
                    "{failed} jobs failed their landing (line.max_failed_landings = {max})"
                ))
                .await;
        }
        Ok(())
    }

    /// Pause the shift (once: a line already paused stays paused as it was).
    async fn stop(&self, reason: String) -> Result<(), FactoryError> {
        if self.now().paused.is_some() {
            return Ok(());
        }
        tracing::warn!(shift = %self.shift, reason = %reason, "The line stopped itself.");
        let event = Event::Control {
            action: Control::Pause,
            by: "line".into(),
            reason: Some(reason),
        };
        self.store
            .record(&self.shift, None, &event, now_ms(), &[])
            .await?;
        // Obeyed at once, not at the next poll: no job starts another iteration first.
        self.refresh().await
    }
}

/// Ends the poller when dropped.
pub(crate) struct Poller(tokio::task::JoinHandle<()>);

impl Drop for Poller {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wait until `ready` says yes of the controls (checked now and at every change).
pub(crate) async fn until<T>(
    rx: &mut watch::Receiver<Controls>,
    mut ready: impl FnMut(&Controls) -> Option<T>,
) -> T {
    loop {
        if let Some(t) = ready(&rx.borrow_and_update()) {
            return t;
        }
        if rx.changed().await.is_err() {
            // The line is gone (the run is ending): nothing will change any more.
            std::future::pending::<()>().await;
        }
    }
}
