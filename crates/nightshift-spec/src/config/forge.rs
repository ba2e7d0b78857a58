//! `[[forge]]`: the forges pull requests are opened on, and where their tokens are.

use std::collections::HashSet;

use serde::Deserialize;

use super::raw::RawForge;
use crate::error::{Source, SpecError};
use crate::locate::Seg;

/// Which forge's API a `[[forge]]` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeApi {
    /// GitHub or GitHub Enterprise (REST v3).
    Github,
    /// GitLab (REST v4, merge requests).
    Gitlab,
    /// Gitea or Forgejo (REST v1).
    Gitea,
}

impl ForgeApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
        }
    }

    fn public(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Github => Some(("github.com", "https://api.github.com")),
            Self::Gitlab => Some(("gitlab.com", "https://gitlab.com/api/v4")),
            Self::Gitea => None,
        }
    }
}

/// A forge, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeConfig {
    pub name: String,
    pub kind: ForgeApi,
    /// Up to and including the version segment, without a trailing `/`.
    pub api_base: String,
    /// The environment variable holding the token; read by the factory alone.
    pub token_env: String,
    /// Hosts whose repository URLs belong to this forge (`github.com`, `ghe.example.com`).
    pub hosts: Vec<String>,
}

pub(super) fn resolve(src: &Source<'_>, raw: &[RawForge]) -> Result<Vec<ForgeConfig>, SpecError> {
    let mut forges = Vec::new();
    let mut names = HashSet::new();
    for (index, f) in raw.iter().enumerate() {
        let forge = forge(src, index, f)?;
        if !names.insert(forge.name.clone()) {
            let at = f.name.as_ref().map_or(0, |n| n.span().start);
            return Err(src.invalid(
                at,
                "forge.name",
                format!("forge `{}` is defined twice", forge.name),
            ));
        }
        forges.push(forge);
    }
    Ok(forges)
}

fn forge(src: &Source<'_>, index: usize, f: &RawForge) -> Result<ForgeConfig, SpecError> {
    let table = [Seg::Key("forge"), Seg::Index(index)];
    let name = src
        .required(
            f.name.as_ref(),
            &table,
            "forge.name",
            "a [[forge]] needs a `name`: what `fleet.override.forge` calls it",
        )?
        .get_ref()
        .clone();
    let kind = *src
        .required(
            f.kind.as_ref(),
            &table,
            "forge.kind",
            "a [[forge]] needs a `kind`: \"github\", \"gitlab\" or \"gitea\"",
        )?
        .get_ref();
    let token_env = src.required(
        f.token_env.as_ref(),
        &table,
        "forge.token_env",
        "a [[forge]] needs `token_env`: the environment variable that holds its API token (the token itself never goes in a file)",
    )?;
    let env_ok = {
        let t = token_env.get_ref();
        !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !env_ok {
        return Err(src.invalid_at(
            token_env,
            "forge.token_env",
            format!(
                "`{}` is not an environment variable name: letters, digits and `_`",
                token_env.get_ref()
            ),
        ));
    }
    let api_base = match (&f.api_base, kind.public()) {
        (Some(u), _) => {
            super::provider::http_url(src, u, "forge.api_base", "a token goes in `token_env`")?
        }
        (None, Some((_, api))) => api.to_string(),
        (None, None) => {
            return Err(src.missing(
                &table,
                "forge.api_base",
                format!("forge `{name}` of kind `{}` needs `api_base`, such as `https://gitea.example.com/api/v1`", kind.as_str()),
            ));
        }
    };
    let mut hosts: Vec<String> = f
        .hosts
        .iter()
        .flatten()
        .map(|h| h.get_ref().to_ascii_lowercase())
        .collect();
    if hosts.is_empty() {
        match kind.public() {
            Some((host, api)) if api == api_base => hosts.push(host.to_string()),
            _ => hosts.extend(host_of(&api_base)),
        }
    }
    Ok(ForgeConfig {
        name,
        kind,
        api_base,
        token_env: token_env.get_ref().clone(),
        hosts,
    })
}

fn host_of(url: &str) -> Option<String> {
    let uri = url.parse::<http::Uri>().ok()?;
    uri.host().map(str::to_ascii_lowercase)
}
