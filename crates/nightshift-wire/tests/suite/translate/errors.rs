//! Error bodies reshaped into the client's format.

use serde_json::json;

use super::*;

#[test]
fn errors_are_reshaped() {
    let openai_ctx = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    assert_eq!(
        error_to_anthropic(400, openai_ctx),
        json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: This model's maximum context length is 8192 tokens."}})
    );
    assert_eq!(
        error_to_openai(400, openai_ctx),
        json!({"error": {"message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    );
    let anthropic_overloaded =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        error_to_anthropic(529, anthropic_overloaded),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(
        error_to_openai(529, anthropic_overloaded),
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
    );
    let too_long = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
    assert_eq!(
        error_to_openai(400, too_long)["error"]["code"],
        "context_length_exceeded"
    );
    assert_eq!(
        error_to_anthropic(429, b"slow down"),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    assert_eq!(
        error_to_openai(502, b""),
        json!({"error": {"message": "upstream returned HTTP 502", "type": "server_error",
            "param": null, "code": null}})
    );
    let llama_cpp = br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#;
    assert_eq!(
        error_to_openai(400, llama_cpp),
        json!({"error": {"message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error", "param": null, "code": "context_length_exceeded"}})
    );
    assert_eq!(
        error_to_anthropic(400, llama_cpp)["error"]["message"],
        "prompt is too long: the request exceeds the available context size, try increasing it"
    );
    assert_eq!(
        error_to_openai(404, br#"{"detail":"Not Found"}"#)["error"]["message"],
        "Not Found"
    );
}
