//! How the gateway's refusals and failures end an iteration.

use nightshift_agent::{Event, Outcome, Stop};
use nightshift_testkit::{ScriptedError, Step};
use serde_json::json;

use super::harness;

fn refusal(status: u16, body: &str) -> Step {
    Step {
        error: Some(ScriptedError {
            status,
            retry_after: None,
            body: Some(body.to_owned()),
        }),
        ..Step::default()
    }
}

#[tokio::test]
async fn payment_required_is_budget_exhausted_with_the_gateways_message() {
    let dir = tempfile::tempdir().unwrap();
    let body = json!({"error": {
        "message": "job budget exhausted: $0.500000000 of $0.500000000 spent",
        "type": "insufficient_quota", "param": null, "code": "budget_exhausted"
    }})
    .to_string();
    let run = harness::run(
        dir.path(),
        vec![
            Step::tool_call("list_files", json!({})),
            refusal(402, &body),
        ],
    )
    .await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::BudgetExhausted {
                message: "job budget exhausted: $0.500000000 of $0.500000000 spent".into()
            },
            turns: 2,
            tool_calls: 1,
            notes: None,
        }
    );
    assert_eq!(run.requests.len(), 2);
    assert_eq!(run.events.last(), Some(&Event::Turn { n: 2 }));
}

#[tokio::test]
async fn unauthorized_is_its_own_stop() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"error":{"message":"token revoked","type":"invalid_api_key","param":null,"code":"invalid_api_key"}}"#;
    let run = harness::run(dir.path(), vec![refusal(401, body)]).await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::Unauthorized {
                message: "token revoked".into()
            },
            turns: 1,
            tool_calls: 0,
            notes: None,
        }
    );
}

#[tokio::test]
async fn other_errors_are_returned_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run(dir.path(), vec![Step::error(503), Step::text("unused")]).await;
    assert_eq!(
        run.outcome.stop,
        Stop::ModelError {
            status: Some(503),
            message: "scripted provider: scripted error".into()
        }
    );
    assert_eq!(run.requests.len(), 1);

    let run = harness::run(dir.path(), vec![refusal(500, "plain text failure")]).await;
    assert_eq!(
        run.outcome.stop,
        Stop::ModelError {
            status: Some(500),
            message: "plain text failure".into()
        }
    );
}

#[tokio::test]
async fn an_unreadable_answer_is_a_model_error() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = Step {
        malformed: true,
        ..Step::text("x")
    };
    let run = harness::run(dir.path(), vec![malformed]).await;
    match run.outcome.stop {
        Stop::ModelError {
            status: Some(200),
            message,
        } => assert!(
            message.starts_with("the answer is not a chat completion"),
            "{message}"
        ),
        other => panic!("unexpected stop {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_model_error_without_status() {
    let dir = tempfile::tempdir().unwrap();
    // Bind a port, then free it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cfg = harness::config(format!("http://127.0.0.1:{port}/v1"));
    let outcome = nightshift_agent::run_iteration(
        &cfg,
        dir.path(),
        &nightshift_agent::Prompt::default(),
        &mut |_| {},
    )
    .await;
    assert_eq!(outcome.turns, 1);
    match outcome.stop {
        Stop::ModelError {
            status: None,
            message,
        } => assert!(message.starts_with("the model call failed"), "{message}"),
        other => panic!("unexpected stop {other:?}"),
    }
}
