//! The JSON-over-HTTP client GitLab's and Gitea's modules share (reqwest).

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{self, Call};
use crate::{ForgeError, ForgeKind, RepoPath, Token};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One forge's API base, with the token in the header the forge reads.
pub(crate) struct Rest {
    client: reqwest::Client,
    base: String,
    kind: ForgeKind,
    token: Token,
}

impl Rest {
    /// `auth_header: auth_prefix TOKEN` goes with every request. Redirects are not
    /// followed: a token in a custom header would follow one to another host.
    pub fn new(
        kind: ForgeKind,
        api_base: &str,
        auth_header: &'static str,
        auth_prefix: &str,
        token: Token,
    ) -> Result<Self, ForgeError> {
        let base = wire::api_base(api_base, &token)?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(auth_header, wire::auth_value(auth_prefix, &token)?);
        headers.insert(
            reqwest::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("nightshift-forge/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| ForgeError::Config {
                message: wire::scrub(&format!("could not build the HTTP client: {error}"), &token),
            })?;
        Ok(Self {
            client,
            base,
            kind,
            token,
        })
    }

    fn call<'a>(&'a self, repo: &'a RepoPath, what: &'a str) -> Call<'a> {
        Call {
            kind: self.kind,
            token: &self.token,
            repo,
            what,
        }
    }

    /// `GET base+path?query` as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ForgeError> {
        let call = self.call(repo, what);
        let body = self
            .execute(&call, Method::GET, path, query, None::<&()>)
            .await?;
        call.decode(&body)
    }

    /// Every page of a list at `path`: `size` items a page, asked for with the forge's own
    /// page-size parameter (`per_page`, `limit`).
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
        query: &[(&str, String)],
        (size_key, size): (&str, usize),
    ) -> Result<Vec<T>, ForgeError> {
        crate::wire::collect_pages(size, |page| {
            let mut query = query.to_vec();
            query.push((size_key, size.to_string()));
            query.push(("page", page.to_string()));
            async move { self.get(repo, what, path, &query).await }
        })
        .await
    }

    /// `METHOD base+path` with a JSON body, the answer as `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        repo: &RepoPath,
        what: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ForgeError> {
        let call = self.call(repo, what);
        let answer = self.execute(&call, method, path, &[], Some(body)).await?;
        call.decode(&answer)
    }

    /// `METHOD base+path` with a JSON body, whose answer's body does not matter.
    pub async fn send_only(
        &self,
        method: Method,
        repo: &RepoPath,
        what: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(), ForgeError> {
        let call = self.call(repo, what);
        self.execute(&call, method, path, &[], Some(body))
            .await
            .map(drop)
    }

    async fn execute(
        &self,
        call: &Call<'_>,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<String, ForgeError> {
        let url = format!("{}{path}", self.base);
        tracing::debug!(forge = %self.kind, repo = %call.repo, %method, path, "Calling the forge.");
        let mut request = self.client.request(method, &url);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| call.transport(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|error| call.transport(&error))?;
        call.check(status, &headers, text)
    }
}
