//! What can go wrong talking to a forge: each error names the repository and says what
//! to do. No error ever holds the token (see [`crate::wire::scrub`]).

use std::time::Duration;

use crate::ForgeKind;

/// A forge call that failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401: the token is missing, wrong or expired.
    #[error(
        "the {forge} forge refused the token for {repo} (401): check the token in the environment variable named by `token_env`, and its scopes (pull requests: write, statuses/checks: read)"
    )]
    Unauthorized { repo: String, forge: ForgeKind },

    /// 403 that is not a rate limit: the token is valid but may not do this.
    #[error(
        "the forge refused {repo} to this token (403): {message}; give the token the permissions it needs (pull requests: write, issues: write for labels, contents: write to merge)"
    )]
    Forbidden { repo: String, message: String },

    /// 404: the repository, pull request or commit does not exist, or the token cannot
    /// see it.
    #[error(
        "{what} of {repo} was not found (404): it does not exist, or the token cannot see it; check the fleet entry's `forge_repo` and that the token has access to the repository"
    )]
    NotFound { repo: String, what: String },

    /// 400, 405, 406, 409, 422: the forge refused the request; its own message says why
    /// (a pull request that already exists, a head that moved, a branch that is missing).
    #[error("the forge refused the request for {repo}: {message}")]
    Invalid { repo: String, message: String },

    /// 429, or 403 with the rate limit spent.
    #[error(
        "the forge's rate limit for {repo} is spent: retry in {} s", retry_after.as_secs()
    )]
    RateLimited { repo: String, retry_after: Duration },

    /// Any other answer that is not a success (5xx included).
    #[error(
        "the forge answered {status} for {repo}: {message}; if it persists, check the forge's status and the API base (`api_base`)"
    )]
    Status {
        repo: String,
        status: u16,
        message: String,
    },

    /// The API could not be reached (DNS, TCP, TLS, timeout).
    #[error(
        "could not reach the forge's API for {repo}: {message}; check the API base (`api_base`) and the network"
    )]
    Transport { repo: String, message: String },

    /// Bad configuration: an API base that is not a URL, a repository path that is not
    /// one, a token that cannot be sent.
    #[error("forge configuration: {message}")]
    Config { message: String },

    /// The forge answered something that is not what its API documents.
    #[error(
        "could not read the forge's answer for {repo}: {message}; check that the API base (`api_base`) is the forge's REST API (`/api/v3`, `/api/v4` or `/api/v1`)"
    )]
    Decode { repo: String, message: String },
}

impl ForgeError {
    /// How long the forge asked to wait, for a rate limit.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_repository_and_what_to_do() {
        let error = ForgeError::Unauthorized {
            repo: "octo/repo".into(),
            forge: ForgeKind::Github,
        };
        assert_eq!(
            error.to_string(),
            "the github forge refused the token for octo/repo (401): check the token in the environment variable named by `token_env`, and its scopes (pull requests: write, statuses/checks: read)"
        );
        let error = ForgeError::RateLimited {
            repo: "octo/repo".into(),
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(
            error.to_string(),
            "the forge's rate limit for octo/repo is spent: retry in 7 s"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(error.is_rate_limit());
        let error = ForgeError::NotFound {
            repo: "octo/repo".into(),
            what: "pull request 3".into(),
        };
        assert!(
            error
                .to_string()
                .starts_with("pull request 3 of octo/repo was not found (404)")
        );
        assert_eq!(error.retry_after(), None);
        assert!(!error.is_rate_limit());
    }
}
