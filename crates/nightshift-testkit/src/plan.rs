//! A step resolved against one request: what exactly to emit, in neutral terms, before any
//! wire format is applied. The output cap (truncation) is applied here, once for all formats.

use serde_json::Value;

use crate::script::{Step, Usage};

/// The wire format of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Chat,
    Responses,
    Anthropic,
}

/// A tool call ready to render.
pub(crate) struct PlannedCall {
    /// The scripted id, if any (each format generates its own otherwise).
    pub id: Option<String>,
    pub name: String,
    /// The arguments as a JSON text.
    pub arguments: String,
    /// The arguments as a JSON value (Anthropic `input`).
    pub input: Value,
}

/// Everything a format needs to render a successful answer.
pub(crate) struct Plan {
    /// A number unique to this request within the provider, used to build ids.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
    /// Whether the answer has a text part (message item / text block).
    pub has_text: bool,
    /// The emitted output tokens (stream deltas).
    pub chunks: Vec<String>,
    /// The emitted text: the chunks joined.
    pub text: String,
    pub calls: Vec<PlannedCall>,
    /// The usage to report (already capped); `None` when the step omits usage.
    pub usage: Option<Usage>,
    /// The output hit the request's cap.
    pub truncated: bool,
}

impl Plan {
    pub(crate) fn new(
        step: &Step,
        request: &Value,
        format: Format,
        seq: u64,
        created: u64,
    ) -> Self {
        let model = step
            .model
            .clone()
            .or_else(|| {
                request
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "scripted-model".to_owned());
        let mut chunks = step.tokens();
        let mut usage = step.usage;
        let scripted_out = usage.output_tokens.max(chunks.len() as u64);
        let truncated =
            !step.ignore_cap && output_cap(request, format).is_some_and(|cap| scripted_out > cap);
        let calls = if truncated {
            Vec::new()
        } else {
            step.tool_calls.iter().map(plan_call).collect()
        };
        if truncated {
            let cap = output_cap(request, format).unwrap_or(0);
            chunks.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
            usage.output_tokens = cap;
            usage.reasoning_tokens = usage.reasoning_tokens.min(cap);
        }
        let has_text =
            step.text.is_some() || step.chunks.is_some() || step.tool_calls.is_empty() || truncated;
        let text = chunks.concat();
        Self {
            seq,
            created,
            model,
            has_text,
            chunks,
            text,
            calls,
            usage: (!step.omit_usage).then_some(usage),
            truncated,
        }
    }
}

fn plan_call(call: &crate::script::ToolCall) -> PlannedCall {
    let (arguments, input) = match &call.arguments {
        Value::String(s) => {
            let input = serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()));
            (s.clone(), input)
        }
        Value::Null => ("{}".to_owned(), Value::Object(serde_json::Map::new())),
        other => (other.to_string(), other.clone()),
    };
    PlannedCall {
        id: call.id.clone(),
        name: call.name.clone(),
        arguments,
        input,
    }
}

/// The request's output-token cap, in the format's own field.
pub(crate) fn output_cap(request: &Value, format: Format) -> Option<u64> {
    let field = |name: &str| request.get(name).and_then(Value::as_u64);
    match format {
        Format::Chat => field("max_completion_tokens").or_else(|| field("max_tokens")),
        Format::Responses => field("max_output_tokens"),
        Format::Anthropic => field("max_tokens"),
    }
}

/// Splits a string into pieces of at most `n` characters (for streamed tool arguments).
pub(crate) fn pieces(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in s.char_indices().enumerate() {
        if count > 0 && count % n == 0 {
            out.push(&s[start..i]);
            start = i;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_respect_char_boundaries() {
        assert_eq!(pieces("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(pieces("ééé", 2), ["éé", "é"]);
        assert!(pieces("", 3).is_empty());
    }
}
