//! The `secrets` gate: a change that adds a credential-shaped string is a defect.
//!
//! The shapes are data: `data/secrets.toml`, in gitleaks' configuration format, plus any
//! rules a recipe names in the same format ([`Rules::with_file`]). Only the lines a change
//! adds are read (a line already in the file before the change is not the agent's doing).
//! The secret itself is never copied: a finding holds its rule, its place and a
//! [`mask`] of it (the first four characters and the length), and [`Rules::redact`] masks
//! every match in a text before it is shown anywhere (the diff on the floor, the worker's
//! events in the log).

use std::collections::HashSet;
use std::sync::LazyLock;

use globset::GlobSet;
use regex::Regex;
use serde::Deserialize;

use crate::change::Change;
use crate::result::GateResult;

/// The gate's name.
pub const GATE: &str = "secrets";

/// The shipped rules, in gitleaks' format.
pub const BUILTIN_RULES: &str = include_str!("../data/secrets.toml");

/// A rule set that does not load.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{file}: not a gitleaks rule file: {message}")]
    Format { file: String, message: String },
    #[error("{file}: rule `{id}` has a regex that does not compile: {message}")]
    Regex {
        file: String,
        id: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    regex: Option<String>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
}

/// One credential shape.
#[derive(Debug, Clone)]
struct Rule {
    id: String,
    description: String,
    regex: Regex,
    secret_group: usize,
    /// Bits per character the secret needs, at least (`0.0`: any).
    entropy: f64,
    /// Lower-case words one of which a line must hold for the regex to be tried.
    keywords: Vec<String>,
}

/// A set of credential shapes.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

static BUILTIN: LazyLock<Rules> = LazyLock::new(|| {
    #[expect(clippy::expect_used, reason = "shipped data, loaded by a unit test")]
    Rules::parse("data/secrets.toml", BUILTIN_RULES).expect("the shipped rules load")
});

/// One credential-shaped string a change adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    /// 1-based, in the file after the change.
    pub line: usize,
    pub rule: String,
    pub description: String,
    /// The secret masked ([`mask`]): never the secret.
    pub masked: String,
}

impl Rules {
    /// The shipped rules.
    pub fn builtin() -> &'static Rules {
        &BUILTIN
    }

    /// Rules in gitleaks' format; `file` names them in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, RulesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| RulesError::Format {
            file: file.to_owned(),
            message: e.message().to_owned(),
        })?;
        let mut rules = Vec::new();
        for r in raw.rules {
            // A gitleaks rule without a regex matches paths only: nothing to look for in text.
            let Some(pattern) = r.regex else { continue };
            let regex = Regex::new(&pattern).map_err(|e| RulesError::Regex {
                file: file.to_owned(),
                id: r.id.clone(),
                message: e.to_string(),
            })?;
            rules.push(Rule {
                description: if r.description.is_empty() {
                    r.id.clone()
                } else {
                    r.description
                },
                id: r.id,
                regex,
                secret_group: r.secret_group.unwrap_or(0),
                entropy: r.entropy.unwrap_or(0.0),
                keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
            });
        }
        Ok(Self { rules })
    }

    /// The shipped rules and those of `file` (its text `text`), together.
    pub fn with_file(file: &str, text: &str) -> Result<Self, RulesError> {
        let mut all = Self::builtin().clone();
        all.rules.extend(Self::parse(file, text)?.rules);
        Ok(all)
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every secret in `line`: the rule and the secret's byte range.
    fn matches<'a>(&'a self, line: &'a str) -> impl Iterator<Item = (&'a Rule, usize, usize)> {
        let lower = line.to_lowercase();
        self.rules
            .iter()
            .filter(move |r| r.keywords.is_empty() || r.keywords.iter().any(|k| lower.contains(k)))
            .flat_map(move |r| {
                r.regex.captures_iter(line).filter_map(move |c| {
                    let m = c.get(r.secret_group).or_else(|| c.get(0))?;
                    (entropy(m.as_str()) >= r.entropy).then_some((r, m.start(), m.end()))
                })
            })
    }

    /// `text` with every secret in it masked.
    pub fn redact(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let mut spans: Vec<(usize, usize)> =
                self.matches(line).map(|(_, s, e)| (s, e)).collect();
            if spans.is_empty() {
                out.push_str(line);
                continue;
            }
            spans.sort_unstable();
            let mut at = 0;
            for (s, e) in spans {
                if s < at {
                    continue;
                }
                out.push_str(&line[at..s]);
                out.push_str(&mask(&line[s..e]));
                at = e;
            }
            out.push_str(&line[at..]);
        }
        out
    }

    /// The secrets `change` adds, outside the `allowed` paths.
    pub fn scan(&self, change: &Change, allowed: &GlobSet) -> Vec<Finding> {
        let mut found = Vec::new();
        for file in &change.files {
            let Some(new) = &file.new_text else { continue };
            if allowed.is_match(&file.path) {
                continue;
            }
            let before: HashSet<&str> = file
                .old_text
                .as_deref()
                .map(|t| t.lines().collect())
                .unwrap_or_default();
            for (i, line) in new.lines().enumerate() {
                if before.contains(line) {
                    continue;
                }
                for (rule, s, e) in self.matches(line) {
                    found.push(Finding {
                        path: file.path.clone(),
                        line: i + 1,
                        rule: rule.id.clone(),
                        description: rule.description.clone(),
                        masked: mask(&line[s..e]),
                    });
                }
            }
        }
        found
    }
}

/// A secret shown without giving it away: its first four characters and its length.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    let head: String = secret.chars().take(4.min(n / 3)).collect();
    format!("{head}…[{n} characters redacted]")
}

/// Shannon entropy of `s`, in bits per character.
fn entropy(s: &str) -> f64 {
    let n = s.chars().count();
    if n == 0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "character counts of one line, far below 2^52"
    )]
    let len = n as f64;
    counts
        .values()
        .map(|&c| {
            #[expect(clippy::cast_precision_loss, reason = "as above")]
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

/// The gate: fails naming each secret's rule and place, with the masked secrets as evidence.
pub fn check(rules: &Rules, change: &Change, allowed: &GlobSet) -> GateResult {
    let found = rules.scan(change, allowed);
    if found.is_empty() {
        return GateResult::policy(
            GATE,
            true,
            format!(
                "no credential-shaped string added ({} rules checked)",
                rules.len()
            ),
            String::new(),
        );
    }
    let places: Vec<String> = found
        .iter()
        .take(5)
        .map(|f| format!("{} at {}:{}", f.rule, f.path, f.line))
        .collect();
    let more = found.len().saturating_sub(places.len());
    let detail = format!(
        "the change adds {} credential-shaped string{} ({}{}): take {} out and read the secret from the environment or a secret store at run time",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        places.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if found.len() == 1 { "it" } else { "them" },
    );
    let excerpt = found
        .iter()
        .map(|f| {
            format!(
                "{}:{}: {} ({}): {}",
                f.path, f.line, f.rule, f.description, f.masked
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    GateResult::policy(GATE, false, detail, excerpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_load() {
        assert_eq!(Rules::builtin().len(), 16);
    }

    #[test]
    fn masks_keep_no_more_than_four_characters() {
        assert_eq!(
            mask("AKIAZ3MRNDA6EXPLQ7VB"),
            "AKIA…[20 characters redacted]"
        );
        assert_eq!(mask("abc"), "a…[3 characters redacted]");
    }

    #[test]
    fn low_entropy_lookalikes_pass() {
        let line = "key = \"AKIAAAAAAAAAAAAAAAAA\"";
        assert_eq!(Rules::builtin().matches(line).count(), 0);
        let real = "key = \"AKIAZ3MRNDA6EXPLQ7VB\"";
        assert_eq!(Rules::builtin().matches(real).count(), 1);
    }
}
