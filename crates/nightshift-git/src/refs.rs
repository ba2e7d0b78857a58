//! The factory's ref and branch names, and the natural order they are listed in.

use std::cmp::Ordering;

/// Where the factory keeps every iteration's commit: `refs/nightshift/<shift>/<job>/<n>`.
pub const REF_NAMESPACE: &str = "refs/nightshift";

/// The first component of every job branch: `nightshift/<shift>/<job>`. A mirror refresh
/// never touches branches under it.
pub const BRANCH_PREFIX: &str = "nightshift";

/// `refs/nightshift/<shift>/<job>/<n>`, with `shift` and `job` sanitized.
pub fn iteration_ref(shift: &str, job: &str, n: u32) -> String {
    format!("{}/{n}", iteration_prefix(shift, job))
}

/// `refs/nightshift/<shift>/<job>`: the prefix to list a job's iterations with
/// [`Mirror::refs`](crate::Mirror::refs).
pub fn iteration_prefix(shift: &str, job: &str) -> String {
    format!(
        "{REF_NAMESPACE}/{}/{}",
        sanitize_ref_component(shift),
        sanitize_ref_component(job)
    )
}

/// `nightshift/<shift>/<job>`, with `shift` and `job` sanitized.
pub fn job_branch(shift: &str, job: &str) -> String {
    format!(
        "{BRANCH_PREFIX}/{}/{}",
        sanitize_ref_component(shift),
        sanitize_ref_component(job)
    )
}

/// Make `s` usable as one component of a ref name (`git check-ref-format` rules), replacing
/// what git refuses with `-`: control characters, space, `~ ^ : ? * [ \`, `/` (a component
/// holds no slash, so `a/b` cannot collide with a job `a`'s refs), `..`, `@{`, a leading
/// `.`, a trailing `.` or `.lock`, and the lone `@`. The empty string becomes `-`. A leading
/// `-` is valid inside a ref and kept. Idempotent; not injective (`a b` and `a-b` meet).
pub fn sanitize_ref_component(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            c if c.is_ascii_control() => '-',
            ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '/' => '-',
            c => c,
        })
        .collect();
    while out.contains("..") {
        out = out.replace("..", "-");
    }
    out = out.replace("@{", "-{");
    if out.starts_with('.') {
        out.replace_range(..1, "-");
    }
    if out.ends_with(".lock") {
        let at = out.len() - ".lock".len();
        out.replace_range(at..at + 1, "-");
    }
    if out.ends_with('.') {
        out.pop();
        out.push('-');
    }
    if out.is_empty() || out == "@" {
        out = "-".to_owned();
    }
    out
}

/// Natural order: runs of digits compare as numbers (`…/2` before `…/10`), everything else
/// byte by byte; equal keys fall back to plain byte order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let (n, rest_x) = split_run(x, true);
                let (m, rest_y) = split_run(y, true);
                let n = trim_zeros(n);
                let m = trim_zeros(m);
                let by_number = n.len().cmp(&m.len()).then_with(|| n.cmp(m));
                if by_number != Ordering::Equal {
                    return by_number;
                }
                x = rest_x;
                y = rest_y;
            }
            (Some(p), Some(q)) if p.is_ascii_digit() != q.is_ascii_digit() => return p.cmp(q),
            (Some(_), Some(_)) => {
                let (s, _) = split_run(x, false);
                let (t, _) = split_run(y, false);
                // Compare the text runs up to the shorter one; a run that is a prefix of the
                // other is followed by a digit or the end, both compared on the next turn.
                let common = s.len().min(t.len());
                let by_text = s[..common].cmp(&t[..common]);
                if by_text != Ordering::Equal {
                    return by_text;
                }
                x = &x[common..];
                y = &y[common..];
            }
        }
    }
}

fn split_run(s: &[u8], digits: bool) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|b| b.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b'0').unwrap_or(s.len());
    &s[start..]
}

/// Whether `refname` is `prefix` itself or lies under it, one whole component at a time
/// (`refs/x/a` is under `refs/x` but `refs/x-b` is not). An empty prefix takes every ref.
pub(crate) fn under_prefix(refname: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    match refname.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut refs = vec![
            "refs/n/s/j/10",
            "refs/n/s/j/2",
            "refs/n/s/j/1",
            "refs/n/s/j/02",
            "refs/n/s/i/3",
            "refs/n/s/j/b",
            "refs/n/s/j/a10",
            "refs/n/s/j/a9",
        ];
        refs.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            refs,
            vec![
                "refs/n/s/i/3",
                "refs/n/s/j/1",
                "refs/n/s/j/02",
                "refs/n/s/j/2",
                "refs/n/s/j/10",
                "refs/n/s/j/a9",
                "refs/n/s/j/a10",
                "refs/n/s/j/b",
            ]
        );
    }

    #[test]
    fn natural_order_survives_huge_numbers() {
        assert_eq!(
            natural_cmp("x/99999999999999999999999", "x/100000000000000000000000"),
            Ordering::Less
        );
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(natural_cmp("a1", "a"), Ordering::Greater);
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(under_prefix("refs/x/a/1", "refs/x/a"));
        assert!(under_prefix("refs/x/a/1", "refs/x/a/"));
        assert!(under_prefix("refs/x/a", "refs/x/a"));
        assert!(!under_prefix("refs/x/ab/1", "refs/x/a"));
        assert!(under_prefix("refs/anything", ""));
    }
}
