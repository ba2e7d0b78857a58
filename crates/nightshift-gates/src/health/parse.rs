//! The analysers' output, read.

use std::sync::LazyLock;

use regex::Regex;

use super::Function;

/// Lizard's `--csv -Eduplicate` output: the functions, and the duplicated lines (in every
/// copy after the first of each duplicate block).
pub fn parse_lizard(text: &str) -> (Vec<Function>, u64) {
    let mut functions = Vec::new();
    let mut duplicated = 0;
    let mut block: Vec<u64> = Vec::new();
    let mut in_dups = false;
    let flush = |block: &mut Vec<u64>, duplicated: &mut u64| {
        *duplicated += block.iter().skip(1).sum::<u64>();
        block.clear();
    };
    for line in text.lines() {
        if line.starts_with("Duplicates") {
            in_dups = true;
            continue;
        }
        if !in_dups {
            let fields = csv_fields(line);
            if fields.len() >= 11
                && let (Ok(ccn), Ok(tokens)) = (fields[1].parse(), fields[2].parse())
            {
                functions.push(Function {
                    file: fields[6].clone(),
                    name: fields[7].clone(),
                    ccn,
                    tokens,
                });
            }
            continue;
        }
        if line.starts_with("Duplicate block") {
            flush(&mut block, &mut duplicated);
        } else if let Some((_, range)) = line.rsplit_once(':')
            && let Some((a, b)) = range.split_once(" ~ ")
            && let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>())
        {
            block.push(b.saturating_sub(a) + 1);
        }
    }
    flush(&mut block, &mut duplicated);
    (functions, duplicated)
}

/// The fields of one CSV line (quotes, no escaped quotes: lizard writes none).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `ruff check --output-format json`: the number of diagnostics.
pub fn parse_ruff(text: &str) -> Result<u64, String> {
    let start = text.find('[').ok_or("no JSON list in its output")?;
    let end = text.rfind(']').ok_or("no JSON list in its output")?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&text[start..=end]).map_err(|e| format!("unreadable JSON: {e}"))?;
    Ok(list.len() as u64)
}

/// `cargo clippy --message-format=json`: the warnings with a place in the code (not the
/// "N warnings emitted" summaries), each once.
pub fn parse_clippy(text: &str) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-message" || v["message"]["level"] != "warning" {
            continue;
        }
        let Some(span) = v["message"]["spans"].as_array().and_then(|s| s.first()) else {
            continue;
        };
        seen.insert((
            v["message"]["message"].as_str().unwrap_or("").to_owned(),
            span["file_name"].as_str().unwrap_or("").to_owned(),
            span["line_start"].as_u64().unwrap_or(0),
        ));
    }
    seen.len() as u64
}

/// The last percentage a coverage command printed, in hundredths of a point.
pub fn parse_coverage(text: &str) -> Option<u64> {
    static PERCENT: LazyLock<Regex> = LazyLock::new(|| {
        #[expect(
            clippy::expect_used,
            reason = "a constant pattern, compiled by a unit test"
        )]
        Regex::new(r"(\d+)(?:\.(\d+))?%").expect("the percentage pattern compiles")
    });
    let c = PERCENT.captures_iter(text).last()?;
    let whole: u64 = c[1].parse().ok()?;
    // Hundredths: the first two decimals, padded.
    let frac = c.get(2).map_or("", |m| m.as_str());
    let frac: String = frac.chars().chain("00".chars()).take(2).collect();
    Some(whole * 100 + frac.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lizard_output_is_read() {
        let text = "13,4,93,2,13,\"load@1-13@c.py\",\"c.py\",\"load\",\"load( path , mode )\",1,13\n4,4,38,1,4,\"parse@1-4@b.rs\",\"b.rs\",\"parse\",\"parse s : & str\",1,4\nDuplicates\n===================================\nDuplicate block:\n--------------------------\nc.py:1 ~ 13\nc.py:15 ~ 27\n^^^^^^^^^^^^^^^^^^^^^^^^^^\n\nTotal duplicate rate: 81.61%\n";
        let (f, d) = parse_lizard(text);
        assert_eq!(d, 13);
        assert_eq!(
            f.iter()
                .map(|f| (f.name.as_str(), f.ccn))
                .collect::<Vec<_>>(),
            [("load", 4), ("parse", 4)]
        );
    }

    #[test]
    fn coverage_is_the_last_percentage() {
        assert_eq!(
            parse_coverage("a 50% b\nTOTAL  120  10  91.7%\n"),
            Some(9170)
        );
        assert_eq!(parse_coverage("TOTAL 88%"), Some(8800));
        assert_eq!(parse_coverage("none"), None);
    }
}
