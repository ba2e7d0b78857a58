//! What the three forges' clients share: turning an answer's status and headers into a
//! [`ForgeError`], reading the forges' error bodies, keeping the token out of every
//! message, keeping a log's tail, paging.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ForgeError, ForgeKind, RepoPath, Token};

/// The most of a check's log that is kept (its end).
pub(crate) const LOG_EXCERPT_BYTES: usize = 16 * 1024;

/// The wait assumed when a forge limits the rate without saying for how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The most pages read of one list; past it the list is cut (and a warning logged).
const MAX_PAGES: u32 = 20;

/// The most of a forge's error message embedded in an error.
const MESSAGE_CHARS: usize = 1000;

/// One call's context: what an error about it names.
pub(crate) struct Call<'a> {
    pub kind: ForgeKind,
    pub token: &'a Token,
    pub repo: &'a RepoPath,
    /// What was asked for, for a 404: "the repository", "pull request 4".
    pub what: &'a str,
}

impl Call<'_> {
    /// The body of a success, or the error its status says.
    pub fn check(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: String,
    ) -> Result<String, ForgeError> {
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let repo = self.repo.to_string();
        let message = || scrub(&forge_message(&body, status), self.token);
        let error = match status {
            401 => ForgeError::Unauthorized {
                repo,
                forge: self.kind,
            },
            404 => ForgeError::NotFound {
                repo,
                what: self.what.to_owned(),
            },
            429 => ForgeError::RateLimited {
                repo,
                retry_after: retry_after(headers, SystemTime::now()).unwrap_or(DEFAULT_RETRY_AFTER),
            },
            403 if rate_limit_spent(headers) => ForgeError::RateLimited {
                repo,
                retry_after: retry_after(headers, SystemTime::now()).unwrap_or(DEFAULT_RETRY_AFTER),
            },
            403 => ForgeError::Forbidden {
                repo,
                message: message(),
            },
            400 | 405 | 406 | 409 | 422 => ForgeError::Invalid {
                repo,
                message: message(),
            },
            _ => ForgeError::Status {
                repo,
                status,
                message: message(),
            },
        };
        tracing::debug!(forge = %self.kind, repo = %self.repo, status, "The forge refused a request.");
        Err(error)
    }

    /// A success's body as `T`.
    pub fn decode<T: DeserializeOwned>(&self, body: &str) -> Result<T, ForgeError> {
        serde_json::from_str(body).map_err(|error| ForgeError::Decode {
            repo: self.repo.to_string(),
            message: scrub(&format!("{error} (in {})", self.what), self.token),
        })
    }

    /// A request that got no answer.
    pub fn transport(&self, error: &(dyn std::error::Error + 'static)) -> ForgeError {
        ForgeError::Transport {
            repo: self.repo.to_string(),
            message: scrub(&error_chain(error), self.token),
        }
    }
}

/// `text` with every occurrence of the token replaced.
pub(crate) fn scrub(text: &str, token: &Token) -> String {
    let secret = token.expose();
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[token]")
    }
}

/// An error and its sources, one after the other (repeats left out).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// The end of `text`, at most `max_bytes`, cut on a character boundary.
pub(crate) fn keep_tail(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// `true` when a 403 is GitHub's (or a proxy's) way of saying "rate limited".
fn rate_limit_spent(headers: &HeaderMap) -> bool {
    let spent = |name: &str| header(headers, name).is_some_and(|value| value.trim() == "0");
    spent("x-ratelimit-remaining")
        || spent("ratelimit-remaining")
        || headers.contains_key("retry-after")
}

/// How long a rate-limited answer asks to wait: `Retry-After` seconds, else the reset
/// time (`X-RateLimit-Reset`, GitLab's `RateLimit-Reset`, epoch seconds) less `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(seconds) = header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = header(headers, "x-ratelimit-reset")
        .or_else(|| header(headers, "ratelimit-reset"))
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The forge's own words from an error body: GitHub's `message` and `errors[]`,
/// GitLab's `message` (a string, a list or an object of fields) or `error`, Gitea's
/// `message` and `errors`; the body itself when it is not JSON.
pub(crate) fn forge_message(body: &str, status: u16) -> String {
    let mut parts = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        for key in ["message", "error", "error_description", "errors"] {
            if let Some(part) = value.get(key) {
                collect_message(None, part, &mut parts);
            }
        }
    }
    parts.dedup();
    let text = if parts.is_empty() {
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed.starts_with('<') {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or("no message");
            format!("{status} {reason}")
        } else {
            trimmed.to_owned()
        }
    } else {
        parts.join("; ")
    };
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn collect_message(field: Option<&str>, value: &Value, parts: &mut Vec<String>) {
    let mut push = |text: String| {
        let text = match field {
            Some(field) => format!("{field} {text}"),
            None => text,
        };
        if !text.trim().is_empty() && !parts.contains(&text) {
            parts.push(text);
        }
    };
    match value {
        Value::String(text) => push(text.clone()),
        Value::Number(n) => push(n.to_string()),
        Value::Bool(b) => push(b.to_string()),
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                collect_message(field, item, parts);
            }
        }
        // GitHub's `errors[]` item: its `message`, else what field and code say.
        Value::Object(map) if map.contains_key("code") || map.contains_key("resource") => {
            match map.get("message").and_then(Value::as_str) {
                Some(message) => push(message.to_owned()),
                None => {
                    let get = |key| map.get(key).and_then(Value::as_str).unwrap_or("");
                    push(
                        format!("{} {} {}", get("resource"), get("field"), get("code"))
                            .trim()
                            .to_owned(),
                    );
                }
            }
        }
        // GitLab's `{"message": {"title": ["can't be blank"]}}`.
        Value::Object(map) => {
            for (key, item) in map {
                collect_message(Some(key), item, parts);
            }
        }
    }
}

/// `text` percent-encoded for a URL's query or path segment.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Every page of a list, `fetch(page)` from page 1 until a page has fewer than
/// `per_page` items (at most [`MAX_PAGES`] pages).
pub(crate) async fn collect_pages<T, F, Fut>(
    per_page: usize,
    mut fetch: F,
) -> Result<Vec<T>, ForgeError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ForgeError>>,
{
    let mut all = Vec::new();
    for page in 1..=MAX_PAGES {
        let items = fetch(page).await?;
        let full = items.len() >= per_page;
        all.extend(items);
        if !full {
            return Ok(all);
        }
    }
    tracing::warn!(
        pages = MAX_PAGES,
        items = all.len(),
        "A forge list was cut after its last page read."
    );
    Ok(all)
}

/// The API base as a URL without a trailing `/`: `http` or `https`, a host, no
/// credentials, no query.
pub(crate) fn api_base(api_base: &str, token: &Token) -> Result<String, ForgeError> {
    let refuse = |why: &str| ForgeError::Config {
        message: scrub(
            &format!(
                "the API base {api_base:?} {why}: write it as a URL such as https://api.github.com, https://HOST/api/v3, https://HOST/api/v4 or https://HOST/api/v1"
            ),
            token,
        ),
    };
    let url = reqwest::Url::parse(api_base.trim()).map_err(|_| refuse("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("is neither http nor https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("holds credentials (the token is given apart)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("has a query or a fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The token as a header value (`prefix` first), marked sensitive.
pub(crate) fn auth_value(prefix: &str, token: &Token) -> Result<http::HeaderValue, ForgeError> {
    let mut value = http::HeaderValue::from_str(&format!("{prefix}{}", token.expose())).map_err(|_| {
        ForgeError::Config {
            message: "the forge token holds characters an HTTP header cannot carry (a newline or a control character): check the environment variable named by `token_env`".to_owned(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `title` without a leading draft marker (any of `markers`, in any case, and the
/// spaces after it), or `None` when it has none.
pub(crate) fn strip_marker<'t>(title: &'t str, markers: &[&str]) -> Option<&'t str> {
    markers.iter().find_map(|marker| {
        let head = title.get(..marker.len())?;
        head.eq_ignore_ascii_case(marker)
            .then(|| title[marker.len()..].trim_start())
    })
}

/// The newest item per name: items sorted by `key` (larger is newer), the first of a
/// name kept, in the order the names were first seen.
pub(crate) fn newest_per_name<T, K: Ord>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for item in items {
        match kept.iter_mut().find(|kept| name(kept) == name(&item)) {
            Some(older) if key(&item) > key(older) => *older = item,
            Some(_) => {}
            None => kept.push(item),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn error(status: u16, pairs: &[(&'static str, &str)], body: &str) -> ForgeError {
        let token = Token::new("s3cret-token");
        let repo = RepoPath::new("octo/repo").unwrap();
        let call = Call {
            kind: ForgeKind::Github,
            token: &token,
            repo: &repo,
            what: "pull request 3",
        };
        call.check(status, &headers(pairs), body.to_owned())
            .unwrap_err()
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(
            error(401, &[], ""),
            ForgeError::Unauthorized {
                forge: ForgeKind::Github,
                ..
            }
        ));
        assert!(
            matches!(error(404, &[], ""), ForgeError::NotFound { what, .. } if what == "pull request 3")
        );
        assert_eq!(
            error(429, &[("retry-after", "7")], "").retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(error(429, &[], "").retry_after(), Some(DEFAULT_RETRY_AFTER));
        assert_eq!(
            error(
                403,
                &[("x-ratelimit-remaining", "0"), ("retry-after", "9")],
                ""
            )
            .retry_after(),
            Some(Duration::from_secs(9))
        );
        assert!(
            matches!(error(403, &[], r#"{"message":"no"}"#), ForgeError::Forbidden { message, .. } if message == "no")
        );
        for status in [400, 405, 406, 409, 422] {
            assert!(
                matches!(error(status, &[], ""), ForgeError::Invalid { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            error(502, &[], "<html>bad gateway</html>"),
            ForgeError::Status { status: 502, message, .. } if message == "502 Bad Gateway"
        ));
    }

    #[test]
    fn the_token_is_scrubbed_from_messages() {
        let error = error(422, &[], r#"{"message":"token s3cret-token is bad"}"#);
        let text = format!("{error} {error:?}");
        assert!(!text.contains("s3cret-token"), "{text}");
        assert!(text.contains("token [token] is bad"), "{text}");
    }

    #[test]
    fn retry_after_from_the_reset_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset", "1030")]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(&[("ratelimit-reset", "900")]), now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn forge_messages_in_each_shape() {
        let github = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."},{"resource":"Issue","field":"title","code":"missing_field"}]}"#;
        assert_eq!(
            forge_message(github, 422),
            "Validation Failed; A pull request already exists for o:b.; Issue title missing_field"
        );
        assert_eq!(
            forge_message(
                r#"{"message":["Another open merge request already exists"]}"#,
                409
            ),
            "Another open merge request already exists"
        );
        assert_eq!(
            forge_message(
                r#"{"message":{"title":["can't be blank"],"source_branch":["is invalid"]}}"#,
                400
            ),
            "title can't be blank; source_branch is invalid"
        );
        assert_eq!(
            forge_message(r#"{"error":"invalid_token"}"#, 401),
            "invalid_token"
        );
        assert_eq!(forge_message("plain words", 500), "plain words");
        assert_eq!(forge_message("", 503), "503 Service Unavailable");
    }

    #[test]
    fn tails_keep_the_end_on_a_char_boundary() {
        assert_eq!(keep_tail("abc", 5), "abc");
        assert_eq!(keep_tail("abcdef", 3), "def");
        // "é" is two bytes: a cut inside it moves forward.
        assert_eq!(keep_tail("aéb", 2), "b");
        assert_eq!(keep_tail("aéb", 3), "éb");
        let long = "x".repeat(LOG_EXCERPT_BYTES + 10) + "end";
        let tail = keep_tail(&long, LOG_EXCERPT_BYTES);
        assert_eq!(
            (tail.len(), tail.ends_with("end")),
            (LOG_EXCERPT_BYTES, true)
        );
    }

    #[test]
    fn api_bases_are_checked() {
        let token = Token::new("t0ken");
        assert_eq!(
            api_base("http://127.0.0.1:9/api/v3/", &token).unwrap(),
            "http://127.0.0.1:9/api/v3"
        );
        assert_eq!(
            api_base("https://api.github.com", &token).unwrap(),
            "https://api.github.com"
        );
        for bad in [
            "",
            "api.github.com",
            "ftp://host/api",
            "https://u:t0ken@host/api",
            "https://host/api?x=1",
        ] {
            let error = api_base(bad, &token).unwrap_err();
            assert!(matches!(error, ForgeError::Config { .. }), "{bad}");
            assert!(!error.to_string().contains("t0ken"), "{error}");
        }
    }

    #[test]
    fn tokens_that_cannot_be_a_header_are_refused_without_being_shown() {
        let error = auth_value("token ", &Token::new("ghp_sekret\nrest")).unwrap_err();
        assert!(!error.to_string().contains("sekret"), "{error}");
        assert!(
            auth_value("Bearer ", &Token::new("ghp_abc"))
                .unwrap()
                .is_sensitive()
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("nightshift/s/job"), "nightshift%2Fs%2Fjob");
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn draft_markers() {
        let markers = ["Draft:", "[Draft]", "WIP:"];
        assert_eq!(strip_marker("Draft: Fix it", &markers), Some("Fix it"));
        assert_eq!(strip_marker("draft:Fix it", &markers), Some("Fix it"));
        assert_eq!(strip_marker("[DRAFT] Fix it", &markers), Some("Fix it"));
        assert_eq!(strip_marker("Fix the draft", &markers), None);
        assert_eq!(strip_marker("Dr", &markers), None);
        assert_eq!(strip_marker("é", &markers), None);
    }

    #[test]
    fn newest_per_name_keeps_the_largest_key() {
        let items = vec![("a", 1), ("b", 5), ("a", 3), ("b", 2)];
        assert_eq!(
            newest_per_name(items, |i| i.0, |i| i.1),
            vec![("a", 3), ("b", 5)]
        );
    }
}
