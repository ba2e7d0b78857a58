use std::fmt;
use std::path::PathBuf;

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
pub(crate) fn read(path: &std::path::Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Deserialize TOML, reporting a mistake at its line and column.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
) -> Result<T, SpecError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        SpecError::invalid(
            Located::at(path, text, offset),
            None,
            e.message().trim().to_string(),
        )
    })
}
