//! Which forge a git remote is on, and where its API is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ForgeError;

/// The kind of forge: which REST API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    /// github.com or GitHub Enterprise Server (REST v3).
    Github,
    /// gitlab.com or a self-managed GitLab (REST v4).
    Gitlab,
    /// Gitea or Forgejo, Codeberg included (REST v1).
    #[serde(alias = "forgejo")]
    Gitea,
}

impl ForgeKind {
    /// The name used in configuration: `github`, `gitlab`, `gitea`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ForgeKind {
    type Err = ForgeError;

    /// `github`, `gitlab`, `gitea` (or `forgejo`), in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "github" => Ok(Self::Github),
            "gitlab" => Ok(Self::Gitlab),
            "gitea" | "forgejo" => Ok(Self::Gitea),
            _ => Err(ForgeError::Config {
                message: format!(
                    "unknown forge kind {text:?}: use \"github\", \"gitlab\" or \"gitea\" (Forgejo is \"gitea\")"
                ),
            }),
        }
    }
}

/// A repository's full path on its forge: `owner/name`, or on GitLab
/// `group/subgroup/…/name`. Every segment is non-empty and made of `[A-Za-z0-9._-]`
/// (and is not `.` or `..`), so the path can be put in a URL as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoPath(String);

impl RepoPath {
    /// Validate `text` as a repository path (at least two segments).
    pub fn new(text: impl Into<String>) -> Result<Self, ForgeError> {
        let text = text.into();
        let refuse = |why: &str| ForgeError::Config {
            message: format!(
                "{text:?} is not a repository path on a forge ({why}): write it as \"owner/name\" (GitLab: \"group/subgroup/name\")"
            ),
        };
        let segments: Vec<&str> = text.split('/').collect();
        if segments.len() < 2 {
            return Err(refuse("it needs an owner and a name"));
        }
        for segment in &segments {
            if segment.is_empty() {
                return Err(refuse("a segment is empty"));
            }
            if *segment == "." || *segment == ".." {
                return Err(refuse("`.` and `..` are not names"));
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(refuse("only letters, digits, `.`, `_` and `-` are allowed"));
            }
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Everything but the last segment: the user, organization or (sub)group.
    pub fn owner(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(owner, _)| owner)
    }

    /// The last segment: the repository's own name.
    pub fn name(&self) -> &str {
        self.0
            .rsplit_once('/')
            .map_or(self.0.as_str(), |(_, name)| name)
    }

    fn segments(&self) -> usize {
        self.0.split('/').count()
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepoPath {
    type Err = ForgeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl TryFrom<String> for RepoPath {
    type Error = ForgeError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl From<RepoPath> for String {
    fn from(path: RepoPath) -> Self {
        path.0
    }
}

/// The forge, host and repository of a git remote URL: `https://github.com/o/r(.git)`,
/// `git@github.com:o/r.git`, `ssh://git@host[:port]/o/r.git`,
/// `https://gitlab.com/group/sub/r`.
///
/// The host is lower-cased; for `http(s)` remotes it keeps its port (the API is served
/// there too), for SSH remotes the port is SSH's and is dropped. Credentials in the URL
/// are dropped.
///
/// The kind is GitHub for `github.com` (and hosts named `github.…`), GitLab for
/// `gitlab.com` or a host containing `gitlab`, Gitea for a host containing `gitea` or
/// `forgejo`, and `codeberg.org`. Any other host gives `None`: the kind cannot be
/// guessed, and the caller requires it (and the API base) from configuration.
/// GitHub and Gitea paths have exactly two segments; GitLab's may have subgroups.
pub fn detect(remote: &str) -> Option<(ForgeKind, String, RepoPath)> {
    let (host, path) = split_remote(remote.trim())?;
    let kind = kind_of_host(&host)?;
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let path = RepoPath::new(path).ok()?;
    if kind != ForgeKind::Gitlab && path.segments() != 2 {
        return None;
    }
    Some((kind, host, path))
}

/// The host (lower-cased) and the path of a remote, URL or scp-like.
fn split_remote(remote: &str) -> Option<(String, &str)> {
    if let Some((scheme, rest)) = remote.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        let keep_port = match scheme.as_str() {
            "https" | "http" => true,
            "ssh" | "git" | "git+ssh" | "ssh+git" => false,
            _ => return None,
        };
        let (authority, path) = rest.split_once('/')?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if keep_port {
            host_port
        } else {
            host_port.split_once(':').map_or(host_port, |(h, _)| h)
        };
        return valid_host(host).then(|| (host.to_ascii_lowercase(), path));
    }
    // scp-like: `[user@]host:path`, where no `/` comes before the `:`.
    let (authority, path) = remote.split_once(':')?;
    if authority.contains('/') {
        return None;
    }
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    valid_host(host).then(|| (host.to_ascii_lowercase(), path))
}

fn valid_host(host: &str) -> bool {
    let name = host.split_once(':').map_or(host, |(name, _)| name);
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && host
            .split_once(':')
            .is_none_or(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
}

fn kind_of_host(host: &str) -> Option<ForgeKind> {
    let name = host.split_once(':').map_or(host, |(name, _)| name);
    if name == "github.com" || name.starts_with("github.") {
        Some(ForgeKind::Github)
    } else if name.contains("gitlab") {
        Some(ForgeKind::Gitlab)
    } else if name.contains("gitea") || name.contains("forgejo") || name == "codeberg.org" {
        Some(ForgeKind::Gitea)
    } else {
        None
    }
}

/// The REST API's base for a forge on `host` (as [`detect`] returns it):
/// `https://api.github.com` for github.com, `https://HOST/api/v3` for GitHub
/// Enterprise Server, `https://HOST/api/v4` for GitLab, `https://HOST/api/v1` for
/// Gitea and Forgejo.
pub fn default_api_base(kind: ForgeKind, host: &str) -> String {
    match kind {
        ForgeKind::Github if host == "github.com" => "https://api.github.com".to_owned(),
        ForgeKind::Github => format!("https://{host}/api/v3"),
        ForgeKind::Gitlab => format!("https://{host}/api/v4"),
        ForgeKind::Gitea => format!("https://{host}/api/v1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(remote: &str) -> (ForgeKind, String, String) {
        let (kind, host, path) = detect(remote).unwrap_or_else(|| panic!("{remote}"));
        (kind, host, path.to_string())
    }

    fn expect(kind: ForgeKind, host: &str, path: &str) -> (ForgeKind, String, String) {
        (kind, host.to_owned(), path.to_owned())
    }

    #[test]
    fn github_remotes_in_every_shape() {
        let want = expect(ForgeKind::Github, "github.com", "octo/repo");
        assert_eq!(found("https://github.com/octo/repo"), want);
        assert_eq!(found("https://github.com/octo/repo.git"), want);
        assert_eq!(found("https://github.com/octo/repo/"), want);
        assert_eq!(found("git@github.com:octo/repo.git"), want);
        assert_eq!(found("github.com:octo/repo"), want);
        assert_eq!(found("ssh://git@github.com/octo/repo.git"), want);
        assert_eq!(found("ssh://git@github.com:22/octo/repo.git"), want);
        assert_eq!(
            found("https://x-access-token:secret@GitHub.com/octo/repo.git"),
            want
        );
        assert_eq!(
            found("https://github.example.com:8443/octo/repo.git"),
            expect(ForgeKind::Github, "github.example.com:8443", "octo/repo")
        );
    }

    #[test]
    fn gitlab_remotes_keep_subgroups() {
        assert_eq!(
            found("https://gitlab.com/group/sub/repo"),
            expect(ForgeKind::Gitlab, "gitlab.com", "group/sub/repo")
        );
        assert_eq!(
            found("git@gitlab.example.org:group/repo.git"),
            expect(ForgeKind::Gitlab, "gitlab.example.org", "group/repo")
        );
        assert_eq!(
            found("ssh://git@gitlab.corp:2222/a/b/c/repo.git"),
            expect(ForgeKind::Gitlab, "gitlab.corp", "a/b/c/repo")
        );
    }

    #[test]
    fn gitea_forgejo_and_codeberg() {
        assert_eq!(
            found("https://codeberg.org/owner/repo.git"),
            expect(ForgeKind::Gitea, "codeberg.org", "owner/repo")
        );
        assert_eq!(
            found("git@gitea.example.com:owner/repo.git"),
            expect(ForgeKind::Gitea, "gitea.example.com", "owner/repo")
        );
        assert_eq!(
            found("http://forgejo.local:3000/owner/my.repo"),
            expect(ForgeKind::Gitea, "forgejo.local:3000", "owner/my.repo")
        );
    }

    #[test]
    fn refusals() {
        for remote in [
            "",
            "https://example.com/owner/repo.git",
            "git@bitbucket.org:owner/repo.git",
            "https://github.com/owner",
            "https://github.com/a/b/c",
            "https://gitea.example.com/a/b/c",
            "https://github.com/owner/../repo",
            "https://github.com/owner/re po",
            "https://github.com//repo",
            "ftp://github.com/owner/repo",
            "/srv/git/owner/repo.git",
            "file:///srv/git/repo.git",
            "https://github.com:/owner/repo",
            "https://git hub.com/owner/repo",
        ] {
            assert_eq!(detect(remote), None, "{remote:?}");
        }
    }

    #[test]
    fn repo_path_parts() {
        let path = RepoPath::new("group/sub/name").unwrap();
        assert_eq!(
            (path.as_str(), path.owner(), path.name(), path.to_string()),
            (
                "group/sub/name",
                "group/sub",
                "name",
                "group/sub/name".to_owned()
            )
        );
        let path = RepoPath::new("octo/repo").unwrap();
        assert_eq!((path.owner(), path.name()), ("octo", "repo"));
    }

    #[test]
    fn repo_path_refusals() {
        for text in [
            "", "name", "/name", "owner/", "a//b", "a/../b", "a/./b", "a/b c", "a/b?x", "a/ü",
        ] {
            let error = RepoPath::new(text).unwrap_err();
            assert!(
                matches!(error, ForgeError::Config { .. }),
                "{text:?}: {error}"
            );
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn repo_path_serde_validates() {
        let path: RepoPath = serde_json::from_str("\"octo/repo\"").unwrap();
        assert_eq!(serde_json::to_string(&path).unwrap(), "\"octo/repo\"");
        assert!(serde_json::from_str::<RepoPath>("\"../x\"").is_err());
    }

    #[test]
    fn kind_names() {
        for kind in [ForgeKind::Github, ForgeKind::Gitlab, ForgeKind::Gitea] {
            assert_eq!(kind.to_string().parse::<ForgeKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<ForgeKind>(&json).unwrap(), kind);
        }
        assert_eq!("Forgejo".parse::<ForgeKind>().unwrap(), ForgeKind::Gitea);
        assert_eq!(
            serde_json::from_str::<ForgeKind>("\"forgejo\"").unwrap(),
            ForgeKind::Gitea
        );
        assert!("bitbucket".parse::<ForgeKind>().is_err());
    }

    #[test]
    fn api_bases() {
        assert_eq!(
            default_api_base(ForgeKind::Github, "github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            default_api_base(ForgeKind::Github, "ghe.corp"),
            "https://ghe.corp/api/v3"
        );
        assert_eq!(
            default_api_base(ForgeKind::Gitlab, "gitlab.com"),
            "https://gitlab.com/api/v4"
        );
        assert_eq!(
            default_api_base(ForgeKind::Gitea, "codeberg.org"),
            "https://codeberg.org/api/v1"
        );
    }
}
