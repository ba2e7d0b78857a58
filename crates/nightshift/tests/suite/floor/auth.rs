//! Who may read and act: a floor that needs tokens refuses none, a wrong one and a
//! viewer's action, each with a JSON error; bad requests change nothing.

use std::time::Duration;

use serde_json::{Value, json};

use super::{client, start_floor, world};

fn mint(dir: &std::path::Path, role: &str) -> String {
    let out = super::ok(
        dir,
        &[
            "token", "create", "--floor", role, "--label", role, "--json",
        ],
    );
    let minted: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(minted["role"], role);
    minted["token"].as_str().expect("secret").to_string()
}

async fn status(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_asked_for_checked_and_scoped_and_bad_requests_change_nothing() {
    let w = world("guarded", "").await;
    let config = std::fs::read_to_string(w.path("nightshift.toml")).expect("config");
    std::fs::write(
        w.path("nightshift.toml"),
        format!("{config}\n[floor]\nrequire_token = true\n"),
    )
    .expect("config");
    // A shift in the store whose run is gone (killed): nothing runs while this test acts.
    let run = super::start_run(&w);
    let store = super::super::factory_resume::store(&w).await;
    super::until(Duration::from_secs(30), "the job running", || async {
        let jobs = nightshift_store::FactoryStore::jobs(&store, "guarded")
            .await
            .ok()?;
        jobs.iter()
            .any(|j| j.state == nightshift_store::JobState::Running)
            .then_some(())
    })
    .await;
    drop(run);
    let viewer = mint(w.dir.path(), "viewer");
    let operator = mint(w.dir.path(), "operator");
    let (_floor, base) = start_floor(w.dir.path());
    let c = client();
    let shifts = format!("{base}/api/v1/shifts");
    let pause = format!("{base}/api/v1/shifts/guarded/jobs/calc/pause");

    let (code, body) = status(c.get(&shifts)).await;
    assert_eq!(code, 401);
    assert_eq!(body["error"]["status"], 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("nightshift token create --floor"),
        "{body}"
    );
    assert_eq!(
        status(c.get(&shifts).bearer_auth("nsf_not_a_token"))
            .await
            .0,
        401
    );
    // A gateway token is not a floor token.
    let out = super::ok(
        w.dir.path(),
        &["token", "create", "--budget-usd", "1", "--label", "gw"],
    );
    let gateway = out.trim().to_string();
    assert!(gateway.starts_with("nsk_"), "{gateway}");
    assert_eq!(status(c.get(&shifts).bearer_auth(&gateway)).await.0, 401);
    assert_eq!(status(c.get(&shifts).bearer_auth(&viewer)).await.0, 200);
    assert_eq!(
        status(c.get(format!("{shifts}?token={viewer}"))).await.0,
        200
    );
    assert_eq!(
        status(c.get(format!("{base}/metrics")).bearer_auth(&viewer))
            .await
            .0,
        200
    );
    let (code, body) = status(c.post(&pause).bearer_auth(&viewer)).await;
    assert_eq!(
        (code, body["error"]["message"].clone()),
        (
            403,
            json!("a viewer's token reads the floor; acting on it needs an operator's token")
        )
    );

    let events = || async {
        nightshift_store::FactoryStore::events(&store, "guarded", 0)
            .await
            .expect("events")
            .len()
    };
    let before = events().await;
    for (req, code, message) in [
        (
            c.post(format!("{base}/api/v1/shifts/nope/pause")),
            404,
            "no shift named `nope` in this store (see `nightshift status`)",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/nope/pause")),
            404,
            "shift `guarded` has no job `nope` (jobs: calc)",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/calc/dance")),
            404,
            "`dance` is not an action here (actions: pause, resume, kill, steer, requeue)",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/kill")),
            404,
            "`kill` is not an action here (actions: pause, resume)",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/calc/steer"))
                .body("{not json"),
            400,
            "",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/calc/steer"))
                .json(&json!({"note": "  "})),
            422,
            "a steer needs a `note` that is not empty",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/calc/resume")),
            409,
            "job `calc` is not paused",
        ),
        (
            c.post(format!("{base}/api/v1/shifts/guarded/jobs/calc/requeue"))
                .json(&json!({"iterations": 1})),
            409,
            "job `calc` of shift `guarded` has not stopped (running): only a stopped job is requeued",
        ),
    ] {
        let (got, body) = status(req.bearer_auth(&operator)).await;
        assert_eq!(got, code, "{body}");
        if !message.is_empty() {
            assert_eq!(body["error"]["message"], message);
        }
    }
    assert_eq!(events().await, before, "no refused action was recorded");
    let (code, acted) = status(c.post(&pause).bearer_auth(&operator)).await;
    assert_eq!(code, 202, "{acted}");
    assert!(
        acted["by"]
            .as_str()
            .unwrap_or("")
            .starts_with("floor token `operator` (flt_"),
        "{acted}"
    );
    assert_eq!(events().await, before + 1);

    // Revoked: refused from then on.
    let id = acted["by"]
        .as_str()
        .unwrap_or("")
        .split('(')
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(')')
        .to_string();
    let out = super::super::run(
        &["token", "revoke", &id, "--config", "nightshift.toml"],
        w.dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(c.get(&shifts).bearer_auth(&operator)).await.0, 401);
}
