//! The `auto` thread policy: how many cores other processes left idle a moment ago.
//!
//! llama.cpp's threads wait for each other at every layer by spinning. When one of them
//! shares its core with a busy process, every step waits for the time slice that thread
//! did not get: on two cores, two threads run 5–10× slower than one while the other core
//! is busy. So before each generation the policy counts the cores that *other* processes
//! kept busy over the last sampling window (all CPU time in `/proc/stat` minus this
//! process's own in `/proc/self/stat`, so our own inference does not count) and uses only
//! the cores left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// How often the CPU counters are read.
const WINDOW: Duration = Duration::from_millis(250);
/// A core counts as busy when others used more than this share of it (in thousandths): a
/// thread that loses even a third of its time slices holds up all the others.
const BUSY_ABOVE: u32 = 300;

/// CPU time counters at one instant, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// All CPUs, busy time.
    busy: u64,
    /// All CPUs, all time.
    total: u64,
    /// This process, user + system.
    own: u64,
    cpus: u32,
}

fn read_sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut lines = stat.lines();
    let first = lines.next()?;
    let fields: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if fields.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields[3] + fields[4];
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u32;
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = &me[me.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Sample {
        busy: total - idle,
        total,
        own,
        cpus: cpus.max(1),
    })
}

/// Busy share of each core used by other processes between two samples, in thousandths of
/// one core (2000 = two whole cores).
fn others_busy(a: &Sample, b: &Sample) -> u32 {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return 0;
    }
    let others = b
        .busy
        .saturating_sub(a.busy)
        .saturating_sub(b.own.saturating_sub(a.own));
    (others.saturating_mul(1000) * u64::from(b.cpus) / total) as u32
}

/// A background sampler of other processes' CPU use; stops when dropped.
#[derive(Debug)]
pub(crate) struct CpuWatch {
    others: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    cpus: u32,
}

impl CpuWatch {
    pub fn start() -> Self {
        let others = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let (o, s) = (others.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("local-cpu-watch".into())
            .spawn(move || {
                let Some(mut last) = read_sample() else {
                    tracing::debug!("No /proc/stat: the auto thread policy uses half the cores.");
                    o.store(u32::MAX, Ordering::Relaxed);
                    return;
                };
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(WINDOW);
                    let Some(now) = read_sample() else { break };
                    o.store(others_busy(&last, &now), Ordering::Relaxed);
                    last = now;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Cannot start the CPU watch; the auto thread policy uses half the cores.");
            others.store(u32::MAX, Ordering::Relaxed);
        }
        Self { others, stop, cpus }
    }

    /// Threads to use now: the cores other processes left free, at least one.
    pub fn threads(&self) -> u32 {
        let others = self.others.load(Ordering::Relaxed);
        if others == u32::MAX {
            return (self.cpus / 2).max(1);
        }
        choose(self.cpus, others)
    }

    /// Other processes' load over the last window, in thousandths of a core.
    pub fn others_load(&self) -> u32 {
        self.others.load(Ordering::Relaxed)
    }
}

impl Drop for CpuWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Cores minus those others keep busy, counting a partly busy core as busy.
fn choose(cpus: u32, others_permille: u32) -> u32 {
    let busy = (others_permille + (1000 - BUSY_ABOVE)) / 1000;
    cpus.saturating_sub(busy).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_load_excludes_our_own_time() {
        let a = Sample {
            busy: 100,
            total: 400,
            own: 10,
            cpus: 2,
        };
        // 200 ticks over 2 cpus: 150 busy, of which 50 ours -> others used 100 of 200 = 1 core.
        let b = Sample {
            busy: 250,
            total: 600,
            own: 60,
            cpus: 2,
        };
        assert_eq!(others_busy(&a, &b), 1000);
    }

    #[test]
    fn a_busy_core_is_not_used() {
        assert_eq!(choose(2, 0), 2);
        assert_eq!(choose(2, 250), 2);
        assert_eq!(choose(2, 400), 1);
        assert_eq!(choose(2, 1000), 1);
        assert_eq!(choose(2, 2000), 1);
        assert_eq!(choose(8, 1500), 6);
    }
}
