//! Where a mirror's source is and what its folder in the cache is called.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::GitError;

/// A local path that exists becomes its canonical path; anything else must look like a
/// git URL (`scheme://…` or scp-like `host:path`).
pub(super) fn normalize_source(source: &str) -> Result<String, GitError> {
    let trimmed = source.trim();
    if trimmed.is_empty() {
        return Err(GitError::InvalidArgument {
            what: "a repository source is empty: give a local path or a git URL".to_owned(),
        });
    }
    let path = Path::new(trimmed);
    if path.exists() {
        let canonical =
            std::fs::canonicalize(path).map_err(|e| GitError::io("resolve", path, e))?;
        return canonical
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| GitError::InvalidArgument {
                what: format!(
                    "the repository path {} is not valid UTF-8; move or rename it",
                    canonical.display()
                ),
            });
    }
    if looks_like_url(trimmed) {
        return Ok(trimmed.to_owned());
    }
    Err(GitError::NotARepository {
        path: path.to_owned(),
        detail:
            "no such folder, and it is not a git URL; give the path of a git repository or a URL"
                .to_owned(),
    })
}

fn looks_like_url(s: &str) -> bool {
    if s.contains("://") {
        return true;
    }
    // scp-like `user@host:path`: a colon before any slash.
    match (s.find(':'), s.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 0,
        (Some(colon), None) => colon > 0,
        _ => false,
    }
}

/// `<name>-<8 hex of sha256(source)>.git`, the name from the source's last component.
pub(super) fn mirror_dir_name(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    let hash = hex::encode(&digest[..4]);
    let last = source
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name = name.trim_start_matches('.').to_owned();
    if name.is_empty() {
        name = "repo".to_owned();
    }
    format!("{name}-{hash}.git")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_names_are_readable_and_distinct() {
        let a = mirror_dir_name("https://example.com/org/service.git");
        assert!(
            a.starts_with("service-") && a.ends_with(".git") && a.len() == "service-".len() + 8 + 4,
            "{a}"
        );
        assert_ne!(a, mirror_dir_name("https://example.com/other/service.git"));
        assert!(mirror_dir_name("git@host:org/api").starts_with("api-"));
        assert!(mirror_dir_name("/").starts_with("repo-"));
        assert!(mirror_dir_name("/srv/we ird").starts_with("we-ird-"));
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(looks_like_url("https://example.com/x.git"));
        assert!(looks_like_url("git@github.com:org/x.git"));
        assert!(looks_like_url("file:///srv/x"));
        assert!(!looks_like_url("./a:b"));
        assert!(!looks_like_url("relative/path"));
    }
}
