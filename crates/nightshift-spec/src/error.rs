use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::locate::{Doc, Seg};

/// Where in a file something is: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Located {
    /// Turn a byte offset of `source` into a line and column.
    pub fn at(file: impl Into<PathBuf>, source: &str, offset: usize) -> Self {
        let offset = offset.min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A mistake in a file a person wrote. Always says where, what, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {message}{}", key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    Invalid {
        at: Located,
        key: Option<String>,
        message: String,
    },
}

impl SpecError {
    pub fn invalid(
        at: Located,
        key: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            at,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Read a file a person wrote, for parsing.
pub(crate) fn read(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// A file being parsed: its path and text, for positions in messages.
pub(crate) struct Source<'t> {
    pub(crate) path: &'t Path,
    text: &'t str,
    doc: Doc<'t>,
}

impl<'t> Source<'t> {
    pub(crate) fn new(path: &'t Path, text: &'t str) -> Self {
        Self {
            path,
            text,
            doc: Doc::parse(text),
        }
    }

    pub(crate) fn at(&self, offset: usize) -> Located {
        Located::at(self.path, self.text, offset)
    }

    /// A mistake in the value (or key) at byte `offset`.
    pub(crate) fn invalid(
        &self,
        offset: usize,
        key: &str,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::invalid(self.at(offset), key.to_string(), message)
    }

    /// A mistake in a value written as `Spanned`.
    pub(crate) fn invalid_at<T>(
        &self,
        value: &Spanned<T>,
        key: &str,
        message: impl Into<String>,
    ) -> SpecError {
        self.invalid(value.span().start, key, message)
    }

    /// A key that is not there, reported at the table that should hold it.
    pub(crate) fn missing(
        &self,
        table: &[Seg<'_>],
        key: &str,
        message: impl Into<String>,
    ) -> SpecError {
        self.invalid(self.doc.table_offset(table), key, message)
    }

    /// A required key: its value, or an error at the table that should hold it.
    pub(crate) fn required<'v, T>(
        &self,
        value: Option<&'v T>,
        table: &[Seg<'_>],
        key: &str,
        message: &str,
    ) -> Result<&'v T, SpecError> {
        value.ok_or_else(|| self.missing(table, key, message))
    }

    /// A count that must be at least `min`: `None` when not written.
    pub(crate) fn at_least<T>(
        &self,
        value: Option<&Spanned<T>>,
        min: T,
        key: &str,
    ) -> Result<Option<T>, SpecError>
    where
        T: Copy + PartialOrd + std::fmt::Display,
    {
        match value {
            Some(v) if *v.get_ref() < min => {
                Err(self.invalid_at(v, key, format!("must be at least {min}")))
            }
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    /// Deserialize the text, reporting a mistake at its line and column with its dotted key.
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(self.text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = plain(e.message().trim());
            let mut key = self.doc.key_at(offset);
            // A missing key's span is the table that should hold it; name the key itself.
            if let Some(field) = between(&message, "missing field `", "`") {
                key = Some(match key {
                    Some(table) => format!("{table}.{field}"),
                    None => field.to_string(),
                });
            }
            SpecError::invalid(self.at(offset), key, message)
        })
    }
}

/// serde's message without the names of this crate's private types: `expected struct
/// RawGates` says nothing to the person who wrote the file.
fn plain(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(start) = out.find("struct Raw") {
        let name = start + "struct ".len();
        let end = out[name..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(out.len(), |n| name + n);
        out.replace_range(start..end, "a table");
    }
    out
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let rest = &text[text.find(open)? + open.len()..];
    Some(&rest[..rest.find(close)?])
}
