//! `[[provider]]`: where models are served, remote (a URL and a key) or local (a GGUF file).

use std::collections::HashSet;
use std::path::Path;

use toml::Spanned;

use super::raw::{RawProvider, RawThreads};
use super::{DEFAULT_LOCAL_MODEL, LocalProvider, LocalThreads, ProviderConfig, ProviderKind};
use crate::error::{Source, SpecError};
use crate::locate::Seg;

pub(super) fn resolve(
    src: &Source<'_>,
    folder: &Path,
    raw: &[RawProvider],
) -> Result<Vec<ProviderConfig>, SpecError> {
    let mut providers = Vec::new();
    let mut names = HashSet::new();
    for (index, p) in raw.iter().enumerate() {
        let provider = provider(src, folder, index, p)?;
        if !names.insert(provider.name.clone()) {
            let at = p.name.as_ref().map_or(0, |n| n.span().start);
            return Err(src.invalid(
                at,
                "provider.name",
                format!(
                    "provider `{}` is defined twice; give each [[provider]] its own name",
                    provider.name
                ),
            ));
        }
        providers.push(provider);
    }
    Ok(providers)
}

fn provider(
    src: &Source<'_>,
    folder: &Path,
    index: usize,
    p: &RawProvider,
) -> Result<ProviderConfig, SpecError> {
    let table = [Seg::Key("provider"), Seg::Index(index)];
    let name_at = src.required(
        p.name.as_ref(),
        &table,
        "provider.name",
        "a [[provider]] needs a `name`, which [[model]] entries use to refer to it",
    )?;
    let kind = *src
        .required(
            p.kind.as_ref(),
            &table,
            "provider.kind",
            "a [[provider]] needs a `kind`: openai, anthropic, openai-compatible, scripted or local",
        )?
        .get_ref();
    let name = name_at.get_ref().clone();
    let local = if kind == ProviderKind::Local {
        Some(local_provider(src, folder, &name, p)?)
    } else {
        no_local_settings(src, &name, kind, p)?;
        None
    };
    let base_url = match (&p.base_url, kind.default_base_url()) {
        (Some(u), _) => base_url(src, u)?,
        (None, Some(d)) => d.to_string(),
        // A local model is called in-process, not at a URL.
        (None, None) if local.is_some() => String::new(),
        (None, None) => {
            return Err(src.invalid_at(
                name_at,
                "provider.base_url",
                format!(
                    "provider `{name}` of kind `{}` needs a base_url such as http://127.0.0.1:8080/v1",
                    kind.as_str()
                ),
            ));
        }
    };
    Ok(ProviderConfig {
        name,
        kind,
        base_url,
        api_key_env: p.api_key_env.as_ref().map(|v| v.get_ref().clone()),
        local,
    })
}

/// Settings of a local model on a remote provider are a mistake, not a no-op.
fn no_local_settings(
    src: &Source<'_>,
    name: &str,
    kind: ProviderKind,
    p: &RawProvider,
) -> Result<(), SpecError> {
    let stray = [
        ("model_path", p.model_path.as_ref().map(|v| v.span().start)),
        ("threads", p.threads.as_ref().map(|v| v.span().start)),
        (
            "context_tokens",
            p.context_tokens.as_ref().map(|v| v.span().start),
        ),
        (
            "max_output_tokens",
            p.max_output_tokens.as_ref().map(|v| v.span().start),
        ),
    ];
    if let Some((key, Some(offset))) = stray.into_iter().find(|(_, o)| o.is_some()) {
        return Err(src.invalid(
            offset,
            &format!("provider.{key}"),
            format!(
                "`{key}` is a setting of `local` providers; provider `{name}` is of kind `{}`",
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

/// A remote provider's URL, without its trailing `/`.
fn base_url(src: &Source<'_>, u: &Spanned<String>) -> Result<String, SpecError> {
    http_url(src, u, "provider.base_url", "a key goes in `api_key_env`")
}

/// An http(s) URL with a host and no credentials, without its trailing `/`; `secret`
/// says where a key or token goes instead.
pub(super) fn http_url(
    src: &Source<'_>,
    u: &Spanned<String>,
    key: &str,
    secret: &str,
) -> Result<String, SpecError> {
    let s = u.get_ref();
    // A user or password in the URL would be sent nowhere: keys go in `api_key_env`.
    let host = s.parse::<http::Uri>().ok().and_then(|uri| {
        uri.authority()
            .filter(|a| !a.as_str().contains('@'))
            .map(|a| a.host().to_string())
            .filter(|h| !h.is_empty())
    });
    if !(s.starts_with("http://") || s.starts_with("https://")) || host.is_none() {
        return Err(src.invalid_at(
            u,
            key,
            format!(
                "`{s}` is not an http:// or https:// URL with a host (and no user or password: {secret})"
            ),
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The settings of a `local` provider, checked; `base_url` and `api_key_env` are refused.
fn local_provider(
    src: &Source<'_>,
    folder: &Path,
    name: &str,
    p: &RawProvider,
) -> Result<LocalProvider, SpecError> {
    let refused = [
        ("base_url", p.base_url.as_ref().map(|v| v.span().start)),
        (
            "api_key_env",
            p.api_key_env.as_ref().map(|v| v.span().start),
        ),
    ];
    if let Some((key, Some(offset))) = refused.into_iter().find(|(_, o)| o.is_some()) {
        return Err(src.invalid(
            offset,
            &format!("provider.{key}"),
            format!(
                "provider `{name}` of kind `local` runs in the gateway's process and takes no `{key}`; for a model server at a URL (Ollama, vLLM, llama-server) use kind `openai-compatible`"
            ),
        ));
    }
    let model_path = match &p.model_path {
        Some(v) if v.get_ref().trim().is_empty() => {
            return Err(src.invalid_at(
                v,
                "provider.model_path",
                "model_path is empty; name a GGUF file",
            ));
        }
        Some(v) => folder.join(v.get_ref()),
        None => folder.join(DEFAULT_LOCAL_MODEL),
    };
    let threads = match &p.threads {
        None => LocalThreads::Auto,
        Some(t) => match t.get_ref() {
            RawThreads::Word(w) if w == "auto" => LocalThreads::Auto,
            RawThreads::Count(n) if (1..=1024).contains(n) => LocalThreads::Fixed(*n as u32),
            _ => {
                return Err(src.invalid_at(
                    t,
                    "provider.threads",
                    "threads is \"auto\" or a whole number from 1 to 1024",
                ));
            }
        },
    };
    let context_tokens = src
        .at_least(p.context_tokens.as_ref(), 16, "provider.context_tokens")?
        .unwrap_or(LocalProvider::DEFAULT_CONTEXT_TOKENS);
    let max_output_tokens = p.max_output_tokens.as_ref().map_or(
        LocalProvider::DEFAULT_MAX_OUTPUT_TOKENS.min(context_tokens - 1),
        |v| *v.get_ref(),
    );
    if max_output_tokens == 0 || max_output_tokens >= context_tokens {
        let offset = p.max_output_tokens.as_ref().map_or(0, |v| v.span().start);
        return Err(src.invalid(
            offset,
            "provider.max_output_tokens",
            format!(
                "max_output_tokens must be at least 1 and less than context_tokens ({context_tokens})"
            ),
        ));
    }
    Ok(LocalProvider {
        model_path,
        threads,
        context_tokens,
        max_output_tokens,
    })
}
