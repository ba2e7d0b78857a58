//! `[[model]]`: the names clients ask for, their provider, prices and fallbacks.

use std::collections::HashSet;

use toml::Spanned;

use super::raw::RawModel;
use super::{ModelConfig, PriceOverrides, ProviderConfig, ProviderKind};
use crate::error::{Source, SpecError};
use crate::locate::Seg;
use crate::money::UsdAmount;

pub(super) fn resolve(
    src: &Source<'_>,
    providers: &[ProviderConfig],
    raw: &[RawModel],
) -> Result<Vec<ModelConfig>, SpecError> {
    let mut models = Vec::new();
    let mut names = HashSet::new();
    for (index, m) in raw.iter().enumerate() {
        let model = model(src, providers, index, m)?;
        if !names.insert(model.name.clone()) {
            let at = m.name.as_ref().map_or(0, |n| n.span().start);
            return Err(src.invalid(
                at,
                "model.name",
                format!("model `{}` is defined twice", model.name),
            ));
        }
        models.push(model);
    }
    // Fallbacks may name models defined further down, so they are checked once all are known.
    for f in raw.iter().flat_map(|m| &m.fallback) {
        if !names.contains(f.get_ref()) {
            return Err(src.invalid_at(
                f,
                "model.fallback",
                format!(
                    "fallback `{}` is not a [[model]] name in this file",
                    f.get_ref()
                ),
            ));
        }
    }
    Ok(models)
}

fn model(
    src: &Source<'_>,
    providers: &[ProviderConfig],
    index: usize,
    m: &RawModel,
) -> Result<ModelConfig, SpecError> {
    let table = [Seg::Key("model"), Seg::Index(index)];
    let name = src
        .required(
            m.name.as_ref(),
            &table,
            "model.name",
            "a [[model]] needs a `name`: the name clients and shift specs ask for",
        )?
        .get_ref()
        .clone();
    let provider_at = src.required(
        m.provider.as_ref(),
        &table,
        "model.provider",
        "a [[model]] needs a `provider`: the name of a [[provider]] in this file",
    )?;
    let provider_name = provider_at.get_ref();
    let Some(provider) = providers.iter().find(|p| &p.name == provider_name) else {
        let known: Vec<_> = providers.iter().map(|p| p.name.as_str()).collect();
        return Err(src.invalid_at(
            provider_at,
            "model.provider",
            format!(
                "model `{name}` names provider `{provider_name}`, which no [[provider]] defines (defined: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    let prices = prices(src, m)?;
    if provider.kind == ProviderKind::Local {
        free_on_local(src, m, &name, provider_name)?;
    }
    let max_output_tokens =
        src.at_least(m.max_output_tokens.as_ref(), 1, "model.max_output_tokens")?;
    Ok(ModelConfig {
        upstream: m.upstream.clone().unwrap_or_else(|| name.clone()),
        name,
        provider: provider_name.clone(),
        prices,
        max_output_tokens,
        fallback: m.fallback.iter().map(|f| f.get_ref().clone()).collect(),
    })
}

/// The prices written for a model, each as nanodollars per million tokens.
fn prices(src: &Source<'_>, m: &RawModel) -> Result<PriceOverrides, SpecError> {
    Ok(PriceOverrides {
        input: price(src, m.input_usd_per_mtok.as_ref(), "input_usd_per_mtok")?,
        output: price(src, m.output_usd_per_mtok.as_ref(), "output_usd_per_mtok")?,
        cached_input: price(
            src,
            m.cached_input_usd_per_mtok.as_ref(),
            "cached_input_usd_per_mtok",
        )?,
        cache_write: price(
            src,
            m.cache_write_usd_per_mtok.as_ref(),
            "cache_write_usd_per_mtok",
        )?,
        reasoning: price(
            src,
            m.reasoning_usd_per_mtok.as_ref(),
            "reasoning_usd_per_mtok",
        )?,
    })
}

fn price(
    src: &Source<'_>,
    field: Option<&Spanned<UsdAmount>>,
    key: &str,
) -> Result<Option<i64>, SpecError> {
    let Some(v) = field else { return Ok(None) };
    let key = format!("model.{key}");
    match v.get_ref().nanos() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        Ok(_) => Err(src.invalid_at(v, &key, "a price cannot be negative")),
        Err(e) => Err(src.invalid_at(v, &key, e)),
    }
}

/// Inference on this machine has no bill: a model on a local provider is free by its
/// provider's kind, and a price other than 0 would be a mistake.
fn free_on_local(
    src: &Source<'_>,
    m: &RawModel,
    name: &str,
    provider: &str,
) -> Result<(), SpecError> {
    let fields = [
        ("input_usd_per_mtok", &m.input_usd_per_mtok),
        ("output_usd_per_mtok", &m.output_usd_per_mtok),
        ("cached_input_usd_per_mtok", &m.cached_input_usd_per_mtok),
        ("cache_write_usd_per_mtok", &m.cache_write_usd_per_mtok),
        ("reasoning_usd_per_mtok", &m.reasoning_usd_per_mtok),
    ];
    for (key, field) in fields {
        let Some(v) = field else { continue };
        if price(src, Some(v), key)?.is_some_and(|n| n != 0) {
            return Err(src.invalid_at(
                v,
                &format!("model.{key}"),
                format!(
                    "model `{name}` runs on local provider `{provider}`, which costs $0; remove the price or write 0"
                ),
            ));
        }
    }
    Ok(())
}
