//! One model call through the gateway: authenticate, resolve the model, reserve, call
//! the upstream (with retries and fallbacks), relay, settle.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use nightshift_meter::{Ask, Price, Refusal, Reservation, ResolvedPrice, format_usd};
use nightshift_wire::{WireFormat, output_cap, set_output_cap};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::settle::{Ending, Pending, new_call_id, record_refusal};
use nightshift_clock::now_ms;
use nightshift_store::CallOutcome;

use crate::state::{DEFAULT_OUTPUT_CAP, GatewayState, Route};
use crate::upstream::{self, Attempt, Provider};
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

/// A client's request, read and checked once, with what every candidate model shares.
struct Call<'a> {
    state: &'a Arc<GatewayState>,
    caller: Arc<Caller>,
    format: WireFormat,
    headers: &'a HeaderMap,
    /// The request's size in bytes, from which its input tokens are estimated.
    body_len: usize,
    original: &'a Value,
    request: &'a Map<String, Value>,
    streamed: bool,
    client_include_usage: bool,
    started: Instant,
}

/// How one candidate model ended, when it did not end the call with an error.
enum Tried {
    /// The client has its answer: the upstream's, or its error status relayed.
    Answered(Response),
    /// This candidate cannot answer; the next fallback, if any, is tried.
    Failed(ApiError),
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
    let original = parse_body(&body)?;
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
    let call = Call {
        state: &state,
        caller,
        format,
        headers: &headers,
        body_len: body.len(),
        original: &original,
        request,
        streamed: request
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        client_include_usage: request
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        started,
    };
    call.try_candidates(&candidates(&state, &model)?).await
}

/// The request body as a JSON object, or why it is not one.
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(json_error_position(body, &e))),
    }
}

/// The model asked for, then its fallbacks in the order its configuration lists them.
fn candidates(state: &GatewayState, model: &str) -> Result<Vec<String>, ApiError> {
    let Some(first) = state.routes.get(model) else {
        return Err(ApiError::NotFound(format!(
            "model `{model}` is not configured in this gateway; configured: {}",
            state.model_order.join(", ")
        )));
    };
    Ok(std::iter::once(model.to_string())
        .chain(first.config.fallback.iter().cloned())
        .collect())
}

impl Call<'_> {
    /// Try each candidate in turn until one answers; the last failure is the call's error.
    async fn try_candidates(&self, candidates: &[String]) -> Result<Response, ApiError> {
        // One counter for all candidates: a fallback's ledger row counts the attempts made
        // on the models tried before it too.
        let mut attempts = 0u32;
        let mut last_error: Option<ApiError> = None;
        for name in candidates {
            let Some(route) = self.state.routes.get(name) else {
                continue;
            };
            match self.try_model(name, route, &mut attempts).await? {
                Tried::Answered(response) => return Ok(response),
                Tried::Failed(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| ApiError::Internal("no candidate model could be tried".into())))
    }

    /// One candidate: translate, reserve, record, send, and answer or fail over.
    async fn try_model(
        &self,
        name: &str,
        route: &Route,
        attempts: &mut u32,
    ) -> Result<Tried, ApiError> {
        let price = route.price.clone().map_err(ApiError::Unpriced)?;
        let provider = route.provider.clone();
        let Some(up_format) = provider.upstream_format(self.format) else {
            return Ok(Tried::Failed(ApiError::BadRequest(format!(
                "model `{name}` is served by provider `{}` ({}), which cannot answer {} requests",
                provider.config.name,
                provider.config.kind.as_str(),
                self.format.as_str()
            ))));
        };
        let up = self.upstream_request(up_format, route)?;
        let ask = self.ask(route, &price);
        let reservation = self.reserve(name, &provider.config.name, ask).await?;
        // The reservation is dropped unsettled on the way out, which releases it.
        let up_body = self.encode(up, up_format, reservation.output_cap, &provider)?;
        let mut pending = Pending {
            state: self.state.clone(),
            call_id: new_call_id(),
            caller: self.caller.clone(),
            provider: provider.config.name.clone(),
            model: name.to_string(),
            upstream_model: route.config.upstream.clone(),
            client_format: self.format,
            upstream_format: up_format,
            streamed: self.streamed,
            price: price.price,
            price_version: price.version.clone(),
            reservation,
            started: self.started,
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
            &self.state.http,
            &provider,
            up_format,
            up_body,
            self.headers,
            &self.state.settings,
            attempts,
        )
        .await;
        pending.attempts = *attempts;
        self.answer(pending, result).await
    }

    /// The request in the upstream's format, naming the upstream's model.
    fn upstream_request(
        &self,
        up_format: WireFormat,
        route: &Route,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut up = if up_format == self.format {
            self.request.clone()
        } else {
            match translate::request(self.format, up_format, self.original) {
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
        Ok(up)
    }

    /// What the call may cost at worst: its estimated input and the output it may ask for.
    fn ask(&self, route: &Route, price: &ResolvedPrice) -> Ask {
        let settings = &self.state.settings;
        let input_tokens = (self.body_len as u64)
            .div_ceil(u64::from(settings.input_bytes_per_token))
            + u64::from(settings.input_overhead_tokens);
        let model_cap = route
            .config
            .max_output_tokens
            .map_or(DEFAULT_OUTPUT_CAP, u64::from)
            .min(route.provider.output_limit().unwrap_or(u64::MAX));
        // The client's own cap (read before translation adds a default), else the model's.
        let want_output = output_cap(self.format, self.request)
            .unwrap_or(model_cap)
            .min(model_cap.max(1));
        Ask {
            input_tokens,
            input_cost: Price::tokens_cost(input_tokens, price.price.worst_input()),
            output_per_mtok: price.price.worst_output(),
            want_output,
        }
    }

    /// Reserve the ask against the caller's budgets; a refusal gets its ledger row.
    async fn reserve(&self, name: &str, provider: &str, ask: Ask) -> Result<Reservation, ApiError> {
        match self.state.budgets.reserve(&self.caller.id, ask) {
            Ok(r) => Ok(r),
            Err(refusal) => {
                let msg = refusal_message(&refusal, name);
                record_refusal(
                    self.state,
                    &self.caller,
                    name,
                    provider,
                    self.format,
                    self.streamed,
                    msg.clone(),
                )
                .await;
                Err(ApiError::Budget(msg))
            }
        }
    }

    /// The upstream request's bytes, with the reserved output cap and, for a streamed Chat
    /// upstream, the usage chunk asked for.
    fn encode(
        &self,
        mut up: Map<String, Value>,
        up_format: WireFormat,
        cap: u64,
        provider: &Provider,
    ) -> Result<Bytes, ApiError> {
        set_output_cap(up_format, &mut up, cap, provider.legacy_max_tokens());
        if self.streamed && up_format == WireFormat::Chat {
            let opts = up.entry("stream_options").or_insert_with(|| json!({}));
            if let Value::Object(o) = opts {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        }
        // `to_vec`, not `to_string`: the latter goes through `fmt` (~1 % of the CPU per call).
        match serde_json::to_vec(&Value::Object(up)) {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) => Err(ApiError::Internal(format!(
                "cannot encode the upstream request: {e}"
            ))),
        }
    }

    /// Relay a success, relay an error status, or settle a failure and fail over.
    async fn answer(&self, pending: Pending, result: Attempt) -> Result<Tried, ApiError> {
        match result {
            Attempt::Ok(resp) => Ok(Tried::Answered(if self.streamed {
                relay::stream(pending, resp, self.original, self.client_include_usage)
            } else {
                relay::whole(pending, resp, self.original).await
            })),
            Attempt::Status(status, err_body) => {
                let detail = format!(
                    "upstream answered {status}: {}",
                    upstream::excerpt(&err_body)
                );
                let up_format = pending.upstream_format;
                settle_unbilled(pending, Some(status), detail).await?;
                Ok(Tried::Answered(
                    self.error_status(up_format, status, err_body),
                ))
            }
            Attempt::Failed {
                status,
                message,
                timed_out,
            } => {
                tracing::warn!(model = %pending.model, provider = %pending.provider, attempts = pending.attempts, error = %message, "Upstream failed; trying the next fallback if any.");
                settle_unbilled(pending, status, message.clone()).await?;
                Ok(Tried::Failed(if timed_out {
                    ApiError::Timeout(message)
                } else {
                    ApiError::BadGateway(message)
                }))
            }
            Attempt::Config(message) => {
                settle_unbilled(pending, None, message.clone()).await?;
                Ok(Tried::Failed(ApiError::Unavailable(message)))
            }
        }
    }

    /// The upstream's error status and body, in the client's error format.
    fn error_status(&self, up_format: WireFormat, status: u16, err_body: Bytes) -> Response {
        let body = if up_format == self.format {
            err_body
        } else {
            Bytes::from(translate::error_body(self.format, status, &err_body).to_string())
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// Settle a call the upstream did not answer usefully: nothing billed, its row written.
async fn settle_unbilled(
    pending: Pending,
    status: Option<u16>,
    detail: String,
) -> Result<(), ApiError> {
    pending
        .settle(Ending::nothing(CallOutcome::UpstreamError, status, detail))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}
