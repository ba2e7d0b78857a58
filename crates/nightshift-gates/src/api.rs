//! The `api` gate: public-API walls a change must not move.
//!
//! A recipe declares the surface ([`Walls`]):
//! - **paths** (globs): a change that modifies, deletes or moves a file under one alters the
//!   surface (a new file there adds to it, which is allowed);
//! - **symbols** (`pub fn parse`, `def load`, `class Reader`): the declaration that starts
//!   with the words, in any file the change touches, must still be there, word for word
//!   (whitespace aside) — a changed signature is an altered item;
//! - **the public items of Rust sources** (`rust_public_items`): every item a changed `.rs`
//!   file declares `pub` (functions, types, traits, constants, fields, re-exports; not
//!   `pub(crate)` and the like) — read from the source lines, so a `pub` item of a private
//!   module is kept too: the wall errs toward keeping;
//! - **the names Python modules export** (`python_modules`): `__all__` where a module has
//!   one, else its top-level functions, classes and assignments whose names do not start
//!   with `_`; a function's or class's signature line too.
//!
//! Only the files a change touches are read: an item of an untouched file cannot have moved.
//! An item may move to another file the change touches (a split module keeps its surface).

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::change::{Change, ChangeStatus};
use crate::result::GateResult;

/// The gate's name.
pub const GATE: &str = "api";

/// A declaration is read over at most this many lines (a long signature).
const MAX_DECL_LINES: usize = 30;

/// The public surface a recipe freezes.
#[derive(Debug, Clone, Default)]
pub struct Walls {
    /// Globs of files whose content is frozen.
    pub paths: Vec<String>,
    /// Declarations, by their first words (`pub fn parse`).
    pub symbols: Vec<String>,
    /// Every `pub` item of the Rust sources a change touches.
    pub rust_public_items: bool,
    /// Python modules (paths) whose exported names are frozen.
    pub python_modules: Vec<String>,
}

impl Walls {
    /// Walls from `frozen` entries: one with a space in it is a symbol, any other a path glob.
    pub fn from_frozen(frozen: &[String]) -> Self {
        let (symbols, paths) = frozen
            .iter()
            .cloned()
            .partition(|f| f.split_whitespace().count() > 1);
        Self {
            paths,
            symbols,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.symbols.is_empty()
            && !self.rust_public_items
            && self.python_modules.is_empty()
    }
}

/// A bad glob in the walls.
#[derive(Debug, thiserror::Error)]
#[error("gates.api: bad glob `{glob}`: {message}")]
pub struct WallError {
    pub glob: String,
    pub message: String,
}

/// One frozen item a change removed or altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The file it was in, before the change.
    pub path: String,
    /// The item, as declared before.
    pub item: String,
    /// What it became, when it is still there in another form; `None` when it is gone.
    pub now: Option<String>,
}

/// A declaration as the walls compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decl {
    /// What it is called (`fn parse`, `parse`): how its new form is found.
    key: String,
    /// The declaration, whitespace collapsed.
    text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
    Other,
}

fn lang(path: &str) -> Lang {
    if path.ends_with(".rs") {
        Lang::Rust
    } else if path.ends_with(".py") || path.ends_with(".pyi") {
        Lang::Python
    } else {
        Lang::Other
    }
}

fn glob_set(globs: &[String]) -> Result<GlobSet, WallError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .or_else(|_| Glob::new(g))
            .map_err(|e| WallError {
                glob: g.clone(),
                message: e.to_string(),
            })?;
        b.add(glob);
    }
    b.build().map_err(|e| WallError {
        glob: globs.join(", "),
        message: e.to_string(),
    })
}

/// Whether a path is a Rust file that is no part of a crate's public surface: tests,
/// benchmarks, examples, build scripts.
fn rust_private_file(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .iter()
        .any(|p| matches!(*p, "tests" | "benches" | "examples"))
        || parts.last() == Some(&"build.rs")
}

/// The frozen items `change` removed or altered.
pub fn breaches(walls: &Walls, change: &Change) -> Result<Vec<Breach>, WallError> {
    let frozen_paths = glob_set(&walls.paths)?;
    let modules = glob_set(&walls.python_modules)?;
    let mut out = Vec::new();
    // Every declaration after the change, by key, across the files it touches.
    let mut after: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &change.files {
        if let Some(text) = &f.new_text {
            for d in declarations(text, lang(&f.path), &walls.symbols, true) {
                after.entry(d.key).or_default().push(d.text);
            }
            if lang(&f.path) == Lang::Python {
                for name in python_exports(text) {
                    after.entry(name.clone()).or_default().push(name);
                }
            }
        }
    }
    for f in &change.files {
        let old_path = match &f.status {
            ChangeStatus::Renamed { from } => from.as_str(),
            _ => f.path.as_str(),
        };
        if !matches!(f.status, ChangeStatus::Added) && frozen_paths.is_match(old_path) {
            let now = match &f.status {
                ChangeStatus::Deleted => None,
                ChangeStatus::Renamed { .. } => Some(format!("moved to {}", f.path)),
                _ => Some("its content changed".to_owned()),
            };
            out.push(Breach {
                path: old_path.to_owned(),
                item: format!("the frozen file {old_path}"),
                now,
            });
            continue;
        }
        let Some(old) = &f.old_text else { continue };
        let l = lang(old_path);
        let public = (l == Lang::Rust && walls.rust_public_items && !rust_private_file(old_path))
            || (l == Lang::Python && modules.is_match(old_path));
        let mut before = declarations(old, l, &walls.symbols, public);
        if l == Lang::Python && public {
            before.extend(python_exports(old).into_iter().map(|n| Decl {
                key: n.clone(),
                text: n,
            }));
        }
        for d in before {
            let found = after.get(&d.key);
            if found.is_some_and(|all| all.contains(&d.text)) {
                continue;
            }
            out.push(Breach {
                path: old_path.to_owned(),
                now: found.and_then(|all| all.first().cloned()),
                item: d.text,
            });
        }
    }
    out.dedup();
    Ok(out)
}

/// The gate.
pub fn check(walls: &Walls, change: &Change) -> Result<GateResult, WallError> {
    let found = breaches(walls, change)?;
    if found.is_empty() {
        return Ok(GateResult::policy(
            GATE,
            true,
            "no frozen public item was removed or altered".into(),
            String::new(),
        ));
    }
    let lines: Vec<String> = found
        .iter()
        .map(|b| match &b.now {
            None => format!("{}: removed `{}`", b.path, b.item),
            Some(now) => format!("{}: altered `{}` (now `{now}`)", b.path, b.item),
        })
        .collect();
    let first = &found[0];
    Ok(GateResult::policy(
        GATE,
        false,
        format!(
            "the change {} {} frozen public item{} (first: `{}` in {}): the recipe's `[gates.api]` keeps the repository's clients working — keep the item as it was, adding new items beside it instead",
            if found.iter().all(|b| b.now.is_none()) {
                "removes"
            } else {
                "removes or alters"
            },
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            first.item,
            first.path
        ),
        lines.join("\n"),
    ))
}

/// The declarations of `text` the walls watch: those that start with one of `symbols`, and
/// with `public` every public one of the language.
fn declarations(text: &str, lang: Lang, symbols: &[String], public: bool) -> Vec<Decl> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let symbol = symbols.iter().find(|s| starts_with_words(trimmed, s));
        let key = match (symbol, lang) {
            (Some(s), _) => Some(s.split_whitespace().collect::<Vec<_>>().join(" ")),
            (None, Lang::Rust) if public => rust_public_key(trimmed),
            (None, Lang::Python) if public && !line.starts_with(' ') && !line.starts_with('\t') => {
                python_key(trimmed)
            }
            _ => None,
        };
        let Some(key) = key else { continue };
        // A field is one line: its name and type.
        let text = if key.starts_with("field ") {
            trimmed.trim_end().trim_end_matches(',').to_owned()
        } else {
            declaration_text(&lines[i..], lang)
        };
        out.push(Decl { key, text });
    }
    out
}

/// Whether `line` starts with the words of `symbol`, the last one whole.
fn starts_with_words(line: &str, symbol: &str) -> bool {
    let want: Vec<&str> = symbol.split_whitespace().collect();
    let have = line.split_whitespace().take(want.len());
    let mut n = 0;
    for (k, (h, w)) in have.zip(&want).enumerate() {
        n += 1;
        let last = k + 1 == want.len();
        if last {
            let Some(rest) = h.strip_prefix(w) else {
                return false;
            };
            if rest
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                return false;
            }
        } else if h != *w {
            return false;
        }
    }
    n == want.len()
}

const RUST_KINDS: &[&str] = &[
    "fn", "struct", "enum", "trait", "type", "const", "static", "mod", "use", "union", "macro",
];

/// `fn parse` for a line declaring a `pub` Rust item, `field x` for a public field.
fn rust_public_key(line: &str) -> Option<String> {
    let rest = line.strip_prefix("pub ")?;
    let all: Vec<&str> = rest.split_whitespace().collect();
    // Qualifiers before the kind: `async`, `unsafe`, `extern "C"`, and `const` before `fn`.
    let mut at = 0;
    while let Some(w) = all.get(at) {
        let qualifier = matches!(*w, "async" | "unsafe" | "extern")
            || w.starts_with('"')
            || (*w == "const"
                && all
                    .get(at + 1)
                    .is_some_and(|n| matches!(*n, "fn" | "unsafe" | "async" | "extern")));
        if !qualifier {
            break;
        }
        at += 1;
    }
    let mut words = all[at..].iter().copied();
    let kind = words.next()?;
    if RUST_KINDS.contains(&kind) {
        let name: String = words
            .next()?
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '*')
            .collect();
        return Some(format!("{kind} {name}"));
    }
    // A public field: `pub name: Type,`.
    let name = kind.strip_suffix(':').unwrap_or(kind);
    (name.chars().all(|c| c.is_alphanumeric() || c == '_') && rest.contains(':'))
        .then(|| format!("field {name}"))
}

/// `load` for a top-level Python `def load(`, `class Load`, or `LOAD = …` not starting
/// with `_`.
fn python_key(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("async def ")
        .or_else(|| line.strip_prefix("def "))
        .or_else(|| line.strip_prefix("class "));
    let name: String = match rest {
        Some(r) => r
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect(),
        None => {
            let (lhs, _) = line.split_once('=')?;
            let lhs = lhs.split(':').next()?.trim();
            if !lhs.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            // An assignment: its name is the surface, not its value.
            return (!lhs.starts_with('_') && !lhs.is_empty()).then(|| lhs.to_owned());
        }
    };
    (!name.starts_with('_') && !name.is_empty()).then_some(name)
}

/// The names of a module's `__all__`, when it has one written as a list of strings.
fn python_exports(text: &str) -> Vec<String> {
    let Some(start) = text.find("__all__") else {
        return Vec::new();
    };
    let rest = &text[start..];
    let (Some(open), Some(close)) = (rest.find(['[', '(']), rest.find([']', ')'])) else {
        return Vec::new();
    };
    if close < open {
        return Vec::new();
    }
    rest[open + 1..close]
        .split(',')
        .map(|n| n.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|n| !n.is_empty())
        .map(|n| format!("__all__ {n}"))
        .collect()
}

/// The declaration starting at `lines[0]`, up to where its body (or value) starts, its
/// whitespace collapsed.
fn declaration_text(lines: &[&str], lang: Lang) -> String {
    let mut text = String::new();
    for line in lines.iter().take(MAX_DECL_LINES) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(line.trim());
        let end = match lang {
            Lang::Rust => text.find(['{', ';']).or_else(|| {
                (text.contains("const ") || text.contains("static "))
                    .then(|| text.find(" ="))
                    .flatten()
            }),
            Lang::Python => {
                if text.starts_with("def ")
                    || text.starts_with("async def ")
                    || text.starts_with("class ")
                {
                    text.trim_end()
                        .ends_with(':')
                        .then(|| text.trim_end().len() - 1)
                } else {
                    text.find('=')
                }
            }
            Lang::Other => Some(text.len()),
        };
        if let Some(end) = end {
            text.truncate(end);
            break;
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_match_whole_names() {
        assert!(starts_with_words("pub fn parse(s: &str)", "pub fn parse"));
        assert!(starts_with_words("pub fn parse<T>(s: T)", "pub fn parse"));
        assert!(!starts_with_words("pub fn parser(s: &str)", "pub fn parse"));
        assert!(!starts_with_words("fn parse(s: &str)", "pub fn parse"));
    }

    #[test]
    fn rust_keys() {
        assert_eq!(
            rust_public_key("pub fn add(a: i32)").as_deref(),
            Some("fn add")
        );
        assert_eq!(
            rust_public_key("pub async fn get() {").as_deref(),
            Some("fn get")
        );
        assert_eq!(
            rust_public_key("pub const fn one() -> u8 {").as_deref(),
            Some("fn one")
        );
        assert_eq!(
            rust_public_key("pub const MAX: u32 = 3;").as_deref(),
            Some("const MAX:")
        );
        assert_eq!(rust_public_key("pub x: u32,").as_deref(), Some("field x"));
        assert_eq!(rust_public_key("pub(crate) fn hidden()"), None);
        assert_eq!(rust_public_key("fn private()"), None);
    }

    #[test]
    fn declarations_stop_where_the_body_starts() {
        let text = "pub fn add(\n    a: i32,\n    b: i32,\n) -> i32 {\n    a + b\n}\n";
        let d = declarations(text, Lang::Rust, &[], true);
        assert_eq!(
            d,
            vec![Decl {
                key: "fn add".into(),
                text: "pub fn add( a: i32, b: i32, ) -> i32".into()
            }]
        );
        let py = "def load(path, mode='r'):\n    return 1\n_private = 2\nLIMIT = 3\n";
        let keys: Vec<String> = declarations(py, Lang::Python, &[], true)
            .into_iter()
            .map(|d| d.text)
            .collect();
        assert_eq!(keys, vec!["def load(path, mode='r')", "LIMIT"]);
    }
}
