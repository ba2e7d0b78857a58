//! Wall-clock time, in the two shapes nightshift records: milliseconds since the Unix
//! epoch (every row and event) and the UTC civil date (which price book version applies).
//!
//! A leaf crate with no dependencies, so that the store, the gateway and the factory read
//! the same clock without depending on each other. It is not a monotonic clock: durations
//! inside a process are measured with `std::time::Instant`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the system clock is set before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Today's UTC date as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(secs)
}

/// The UTC date of `secs` seconds since the epoch, as `YYYY-MM-DD` (Howard Hinnant's
/// days-to-civil algorithm, so the price book needs no calendar dependency).
pub fn civil_date(secs: u64) -> String {
    let z = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn civil_dates_across_leap_days_and_centuries() {
        let day = 86_400;
        for (secs, date) in [
            (0, "1970-01-01"),
            (951_782_400, "2000-02-29"),
            (951_782_400 + day, "2000-03-01"),
            (4_107_542_400, "2100-03-01"),
            (1_795_996_800, "2026-11-30"),
            (1_795_996_800 - 1, "2026-11-29"),
        ] {
            assert_eq!(civil_date(secs), date, "{secs}");
        }
    }
}
