//! One model call through the gateway: authenticate, resolve the model, reserve, call
//! the upstream (with retries and fallbacks), relay, settle.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use nightshift_meter::{Ask, Price, Refusal, format_usd};
use nightshift_wire::{WireFormat, output_cap, set_output_cap};

use crate::error::ApiError;
use crate::settle::{Ending, Pending, new_call_id, record_refusal};
use nightshift_clock::now_ms;
use nightshift_store::CallOutcome;

use crate::state::{DEFAULT_OUTPUT_CAP, GatewayState};
use crate::upstream::{self, Attempt};
use crate::{relay, translate};

/// The secret a client presented: `Authorization: Bearer …` or Anthropic's `x-api-key`.
pub(crate) fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        return Some(
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim(),
        );
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn json_error_position(body: &[u8], e: &serde_json::Error) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        return "request body is empty; send a JSON object".into();
    }
    format!("request body is not valid JSON: {e}")
}

fn refusal_message(r: &Refusal, model: &str) -> String {
    match r {
        Refusal::UnknownToken => "this gateway token has no budget".into(),
        Refusal::Exhausted {
            label,
            limit,
            spent,
            reserved,
            left,
            needed,
            input_tokens,
        } => format!(
            "budget `{label}` cannot pay for this call to `{model}`: {} left of {} ({} spent, {} held by calls in flight); the call needs at least {} ({input_tokens} input tokens estimated plus 1 output token)",
            format_usd(*left),
            format_usd(*limit),
            format_usd(*spent),
            format_usd(*reserved),
            format_usd(*needed),
        ),
    }
}

pub async fn handle(
    state: Arc<GatewayState>,
    format: WireFormat,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match process(state, format, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_format(format),
    }
}

async fn process(
    state: Arc<GatewayState>,
    format: WireFormat,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = state
        .auth
        .authenticate(presented_secret(&headers), now_ms())
        .await?;
    let original: Value = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return Err(ApiError::BadRequest(
                "request body must be a JSON object".into(),
            ));
        }
        Err(e) => return Err(ApiError::BadRequest(json_error_position(&body, &e))),
    };
    let Value::Object(request) = &original else {
        return Err(ApiError::Internal("request is not an object".into()));
    };
    let Some(model) = request
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(ApiError::BadRequest("request has no `model` string".into()));
    };
    crate::caps::check(format, request)?;
    let streamed = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let client_include_usage = request
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(first) = state.routes.get(&model) else {
        return Err(ApiError::NotFound(format!(
            "model `{model}` is not configured in this gateway; configured: {}",
            state.model_order.join(", ")
        )));
    };
    let candidates: Vec<String> = std::iter::once(model.clone())
        .chain(first.config.fallback.iter().cloned())
        .collect();
    let mut attempts = 0u32;
    let mut last_error: Option<ApiError> = None;

    for name in &candidates {
        let Some(route) = state.routes.get(name) else {
            continue;
        };
        let price = route.price.clone().map_err(ApiError::Unpriced)?;
        let provider = route.provider.clone();
        let Some(up_format) = provider.upstream_format(format) else {
            last_error = Some(ApiError::BadRequest(format!(
                "model `{name}` is served by provider `{}` ({}), which cannot answer {} requests",
                provider.config.name,
                provider.config.kind.as_str(),
                format.as_str()
            )));
            continue;
        };
        let mut up = if up_format == format {
            request.clone()
        } else {
            match translate::request(format, up_format, &original) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(ApiError::Internal(
                        "translation produced a non-object".into(),
                    ));
                }
                Err(e) => return Err(ApiError::BadRequest(e.to_string())),
            }
        };
        up.insert("model".into(), Value::String(route.config.upstream.clone()));

        let settings = &state.settings;
        let input_tokens = (body.len() as u64).div_ceil(u64::from(settings.input_bytes_per_token))
            + u64::from(settings.input_overhead_tokens);
        let model_cap = route
            .config
            .max_output_tokens
            .map_or(DEFAULT_OUTPUT_CAP, u64::from)
            .min(provider.output_limit().unwrap_or(u64::MAX));
        // The client's own cap (read before translation adds a default), else the model's.
        let want_output = output_cap(format, request)
            .unwrap_or(model_cap)
            .min(model_cap.max(1));
        let ask = Ask {
            input_tokens,
            input_cost: Price::tokens_cost(input_tokens, price.price.worst_input()),
            output_per_mtok: price.price.worst_output(),
            want_output,
        };
        let reservation = match state.budgets.reserve(&caller.id, ask) {
            Ok(r) => r,
            Err(refusal) => {
                let msg = refusal_message(&refusal, name);
                record_refusal(
                    &state,
                    &caller,
                    name,
                    &provider.config.name,
                    format,
                    streamed,
                    msg.clone(),
                )
                .await;
                return Err(ApiError::Budget(msg));
            }
        };
        set_output_cap(
            up_format,
            &mut up,
            reservation.output_cap,
            provider.legacy_max_tokens(),
        );
        if streamed && up_format == WireFormat::Chat {
            let opts = up.entry("stream_options").or_insert_with(|| json!({}));
            if let Value::Object(o) = opts {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        }
        // `to_vec`, not `to_string`: the latter goes through `fmt` (~1 % of the CPU per call).
        let up_body = match serde_json::to_vec(&Value::Object(up)) {
            Ok(b) => Bytes::from(b),
            // The reservation is dropped unsettled on the way out, which releases it.
            Err(e) => {
                return Err(ApiError::Internal(format!(
                    "cannot encode the upstream request: {e}"
                )));
            }
        };
        let pending = Pending {
            state: state.clone(),
            call_id: new_call_id(),
            caller: caller.clone(),
            provider: provider.config.name.clone(),
            model: name.clone(),
            upstream_model: route.config.upstream.clone(),
            client_format: format,
            upstream_format: up_format,
            streamed,
            price: price.price,
            price_version: price.version.clone(),
            reservation,
            started,
            ts_ms: now_ms(),
            attempts: 0,
        };
        if let Err(e) = pending.begin().await {
            // Not recorded, so not sent: dropping the pending call releases its reservation.
            return Err(ApiError::Internal(format!(
                "the ledger cannot record this call: {e}"
            )));
        }
        let result = upstream::send(
            &state.http,
            &provider,
            up_format,
            up_body,
            &headers,
            settings,
            &mut attempts,
        )
        .await;
        let mut pending = pending;
        pending.attempts = attempts;
        match result {
            Attempt::Ok(resp) => {
                return Ok(if streamed {
                    relay::stream(pending, resp, &original, client_include_usage)
                } else {
                    relay::whole(pending, resp, &original).await
                });
            }
            Attempt::Status(status, err_body) => {
                let detail = format!(
                    "upstream answered {status}: {}",
                    upstream::excerpt(&err_body)
                );
                pending
                    .settle(Ending::nothing(
                        CallOutcome::UpstreamError,
                        Some(status),
                        detail,
                    ))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let body = if up_format == format {
                    err_body
                } else {
                    Bytes::from(translate::error_body(format, status, &err_body).to_string())
                };
                let mut resp = Response::new(Body::from(body));
                *resp.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Ok(resp);
            }
            Attempt::Failed {
                status,
                message,
                timed_out,
            } => {
                tracing::warn!(model = %name, provider = %provider.config.name, attempts, error = %message, "Upstream failed; trying the next fallback if any.");
                pending
                    .settle(Ending::nothing(
                        CallOutcome::UpstreamError,
                        status,
                        message.clone(),
                    ))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                last_error = Some(if timed_out {
                    ApiError::Timeout(message)
                } else {
                    ApiError::BadGateway(message)
                });
            }
            Attempt::Config(message) => {
                pending
                    .settle(Ending::nothing(
                        CallOutcome::UpstreamError,
                        None,
                        message.clone(),
                    ))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                last_error = Some(ApiError::Unavailable(message));
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| ApiError::Internal("no candidate model could be tried".into())))
}
