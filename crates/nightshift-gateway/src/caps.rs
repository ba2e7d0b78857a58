//! The client's own output cap, checked before anything is reserved.
//!
//! A cap that is not a whole number of at least one token (`-1`, `1.5`, `"100"`, `0`) was
//! read as no cap at all, and the call quietly reserved and asked for the model's ceiling.
//! Every format forbids such a value, so it is refused the way the provider would refuse
//! it: a 400 naming the field and the value, in the client's own format. Like every other
//! malformed request, it reaches neither the budgets, the ledger nor the provider.

use serde_json::{Map, Value};

use nightshift_wire::WireFormat;

use crate::error::ApiError;

/// Check the cap fields `format` defines. Chat and Responses allow `null` (no cap);
/// Anthropic's `max_tokens` is a number or absent.
pub fn check(format: WireFormat, request: &Map<String, Value>) -> Result<(), ApiError> {
    let (fields, null_allowed): (&[&'static str], bool) = match format {
        WireFormat::Chat => (&["max_tokens", "max_completion_tokens"], true),
        WireFormat::Responses => (&["max_output_tokens"], true),
        WireFormat::Messages => (&["max_tokens"], false),
    };
    for &field in fields {
        match request.get(field) {
            None => {}
            Some(Value::Null) if null_allowed => {}
            Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
            Some(v) => {
                return Err(ApiError::InvalidField {
                    param: field,
                    message: format!(
                        "`{field}` must be a whole number of tokens, at least 1; got {v}"
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checked(format: WireFormat, body: Value) -> Result<(), String> {
        let Value::Object(m) = body else {
            return Err("not an object".into());
        };
        check(format, &m).map_err(|e| e.to_string())
    }

    #[test]
    fn a_cap_must_be_a_whole_number_of_at_least_one() {
        use WireFormat::{Chat, Messages, Responses};
        for ok in [
            json!({}),
            json!({"max_tokens": 1}),
            json!({"max_tokens": null}),
        ] {
            assert_eq!(checked(Chat, ok), Ok(()));
        }
        assert_eq!(
            checked(Responses, json!({"max_output_tokens": null})),
            Ok(())
        );
        assert_eq!(checked(Messages, json!({"max_tokens": 4096})), Ok(()));
        let refused = [
            (
                Chat,
                json!({"max_tokens": -1}),
                "`max_tokens` must be a whole number of tokens, at least 1; got -1",
            ),
            (
                Chat,
                json!({"max_tokens": 0}),
                "`max_tokens` must be a whole number of tokens, at least 1; got 0",
            ),
            (
                Chat,
                json!({"max_completion_tokens": 1.5}),
                "`max_completion_tokens` must be a whole number of tokens, at least 1; got 1.5",
            ),
            (
                Responses,
                json!({"max_output_tokens": "100"}),
                "`max_output_tokens` must be a whole number of tokens, at least 1; got \"100\"",
            ),
            (
                Messages,
                json!({"max_tokens": null}),
                "`max_tokens` must be a whole number of tokens, at least 1; got null",
            ),
        ];
        for (format, body, message) in refused {
            assert_eq!(checked(format, body), Err(message.to_string()));
        }
    }
}
