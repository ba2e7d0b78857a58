//! The floor's reads of a finished shift, to the nanodollar; the live stream resumed with
//! `Last-Event-ID`; `/metrics` as `promtool` reads it.

use std::time::Duration;

use futures_util::StreamExt;
use nightshift_store::FactoryStore;
use nightshift_testkit::Script;
use serde_json::{Value, json};

use super::super::factory::{SPEC, World, edit, finish, python_repo};
use super::{client, get, start_floor};

/// Four calls of known usage at $1 and $4 per million tokens: two iterations, one defect.
const PER_CALL: [i64; 2] = [3000 * 1000 + 40 * 4000, 3100 * 1000 + 20 * 4000];
const SPENT: i64 = 2 * (PER_CALL[0] + PER_CALL[1]);

async fn finished_shift() -> World {
    let w = World::new(Script::new([
        edit("a - b", "a * b"),
        finish(true),
        edit("a - b", "a + b"),
        finish(true),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(SPEC);
    let (code, _, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_reads_the_line_a_shift_a_job_and_the_ledger_exactly() {
    let w = finished_shift().await;
    let (_floor, base) = start_floor(w.dir.path());

    let line = get(&format!("{base}/api/v1/shifts")).await;
    let s = &line["shifts"][0];
    assert_eq!(
        (
            s["name"].clone(),
            s["state"].clone(),
            s["jobs"].clone(),
            s["jobs_total"].clone()
        ),
        (
            json!("fix-calc"),
            json!("finished"),
            json!({"finished": 1}),
            json!(1)
        )
    );
    assert_eq!(
        (
            s["iterations"].as_i64(),
            s["accepted"].as_i64(),
            s["defects"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(s["spent_nanos"].as_i64(), Some(SPENT));
    assert_eq!(s["budget_nanos"].as_i64(), Some(1_000_000_000));
    assert_eq!(s["nanos_per_accepted"].as_i64(), Some(SPENT));
    assert!(line["last_seq"].as_i64().unwrap_or(0) > 0);

    let shift = get(&format!("{base}/api/v1/shifts/fix-calc")).await;
    let job = &shift["jobs_page"][0];
    assert_eq!(
        (
            job["name"].clone(),
            job["state"].clone(),
            job["stop_reason"].clone(),
            job["calls"].clone()
        ),
        (json!("calc"), json!("finished"), json!("done"), json!(4))
    );
    assert_eq!(job["spent_nanos"].as_i64(), Some(SPENT));
    assert_eq!(job["landing"], json!("pushed"));
    assert_eq!(shift["needs_attention"], json!([]));

    let detail = get(&format!("{base}/api/v1/shifts/fix-calc/jobs/calc")).await;
    let its = detail["iterations"].as_array().expect("iterations");
    assert_eq!(its.len(), 2);
    // Each iteration's own calls, to the nanodollar: an edit and a finish each.
    for it in its {
        assert_eq!(
            (
                it["calls"].as_i64(),
                it["input_tokens"].as_i64(),
                it["output_tokens"].as_i64(),
                it["spent_nanos"].as_i64()
            ),
            (
                Some(2),
                Some(6100),
                Some(60),
                Some(PER_CALL[0] + PER_CALL[1])
            ),
            "{it}"
        );
    }
    assert_eq!(
        (its[0]["state"].clone(), its[1]["state"].clone()),
        (json!("rejected"), json!("accepted"))
    );
    let gates: Vec<(String, bool)> = its[0]["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .map(|g| {
            (
                g["gate"].as_str().unwrap_or("").to_string(),
                g["passed"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert!(
        gates.contains(&("python3 -m unittest".into(), false)),
        "{gates:?}"
    );
    assert!(
        its[0]["gates"]
            .as_array()
            .expect("gates")
            .iter()
            .any(|g| g["excerpt"]
                .as_str()
                .unwrap_or("")
                .contains("AssertionError")),
        "the failing gate's evidence is served: {}",
        its[0]["gates"]
    );
    assert!(
        its[1]["events"].as_array().is_some_and(|e| !e.is_empty()),
        "the agent's transcript"
    );
    let diff = client()
        .get(format!(
            "{base}/api/v1/shifts/fix-calc/jobs/calc/iterations/2/diff"
        ))
        .send()
        .await
        .expect("diff")
        .text()
        .await
        .expect("text");
    assert!(
        diff.contains("-    return a - b\n+    return a + b"),
        "{diff}"
    );
    // No provider key, no token secret in anything the floor served.
    for text in [line.to_string(), shift.to_string(), detail.to_string()] {
        assert!(!text.contains("nsk_"), "a token secret was served");
    }

    // Over time: from all pending and nothing spent to all finished and every call paid.
    let t = get(&format!("{base}/api/v1/shifts/fix-calc/timeline?points=3")).await;
    let points = t["points"].as_array().expect("points");
    assert_eq!(points.len(), 3);
    let counts = |p: &Value| {
        (
            p["pending"].clone(),
            p["running"].clone(),
            p["finished"].clone(),
        )
    };
    assert_eq!(counts(&points[0]), (json!(1), json!(0), json!(0)));
    assert_eq!(points[0]["spent_nanos"], 0);
    assert_eq!(counts(&points[2]), (json!(0), json!(0), json!(1)));
    assert_eq!(points[2]["spent_nanos"].as_i64(), Some(SPENT));

    let by_model = get(&format!("{base}/api/v1/ledger?by=model")).await;
    assert_eq!(by_model["totals"][0]["key"], "agent-model");
    assert_eq!(by_model["totals"][0]["settled_nanos"].as_i64(), Some(SPENT));
    assert_eq!(by_model["totals"][0]["calls"].as_i64(), Some(4));
    let by_shift = get(&format!("{base}/api/v1/ledger?by=shift")).await;
    assert_eq!(
        (
            by_shift["totals"][0]["key"].clone(),
            by_shift["totals"][0]["settled_nanos"].as_i64()
        ),
        (json!("fix-calc"), Some(SPENT))
    );
    let by_job = get(&format!("{base}/api/v1/ledger?by=job")).await;
    assert_eq!(by_job["totals"][0]["key"], "fix-calc/calc");
    let bad = client()
        .get(format!("{base}/api/v1/ledger?by=colour"))
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().await.expect("json");
    assert_eq!(
        bad["error"]["message"],
        "`by=colour` is not a grouping: use `shift`, `job` or `model`"
    );
}

/// Read SSE frames (id, event type) until `n` are in.
async fn frames(resp: reqwest::Response, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("a frame in time")
            .expect("the stream goes on")
            .expect("bytes");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let id = frame
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse().ok());
            let kind = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_string);
            if let (Some(id), Some(kind)) = (id, kind) {
                out.push((id, kind));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_resumes_after_the_last_event_seen_and_the_metrics_are_valid() {
    let w = finished_shift().await;
    let (_floor, base) = start_floor(w.dir.path());
    let store = super::super::factory_resume::store(&w).await;
    let all: Vec<(i64, String)> = store
        .events("fix-calc", 0)
        .await
        .expect("events")
        .iter()
        .map(|e| (e.seq, e.event.kind().to_string()))
        .collect();
    let kinds: Vec<&str> = all.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "shift_started",
            "job_prepared",
            "job_started",
            "iteration_started",
            "iteration_committed",
            "iteration_gated",
            "iteration_started",
            "iteration_committed",
            "iteration_gated",
            "job_finished",
            "shift_finished"
        ]
    );

    // The first five, then a reconnect after the third: the rest, none lost or repeated.
    let first = client()
        .get(format!("{base}/api/v1/events?shift=fix-calc"))
        .send()
        .await
        .expect("SSE");
    assert_eq!(
        first
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let got = frames(first, 5).await;
    assert_eq!(got, all[..5]);
    let again = client()
        .get(format!("{base}/api/v1/events?shift=fix-calc"))
        .header("Last-Event-ID", got[2].0.to_string())
        .send()
        .await
        .expect("SSE");
    let rest = frames(again, all.len() - 3).await;
    assert_eq!(rest, all[3..]);
    // A supervisor's action shows up on a live stream as it is recorded.
    let live = client()
        .get(format!("{base}/api/v1/events"))
        .header("Last-Event-ID", all[all.len() - 1].0.to_string())
        .send()
        .await
        .expect("SSE");
    super::ok(
        w.dir.path(),
        &["requeue", "fix-calc", "calc", "--iterations", "1"],
    );
    let next = frames(live, 1).await;
    assert_eq!(next[0].1, "control");
    assert!(next[0].0 > all[all.len() - 1].0);
    let bad = client()
        .get(format!("{base}/api/v1/events"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status().as_u16(), 400);

    // The metrics, from the store: exact dollars, and valid for Prometheus.
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "nightshift_spent_nanodollars_total{{model=\"agent-model\",shift=\"fix-calc\"}} {SPENT}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("nightshift_model_calls_total{model=\"agent-model\",outcome=\"ok\",shift=\"fix-calc\"} 4"), "{metrics}");
    assert!(
        metrics.contains("nightshift_iterations_total{outcome=\"accepted\",shift=\"fix-calc\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("nightshift_gate_results_total{gate=\"python3 -m unittest\",result=\"failed\",shift=\"fix-calc\"} 1"), "{metrics}");
    assert!(
        metrics.contains("nightshift_iteration_duration_seconds_count{shift=\"fix-calc\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "nightshift_budget_remaining_nanodollars{{shift=\"fix-calc\"}} {}",
            1_000_000_000 - SPENT
        )),
        "{metrics}"
    );
    let file = w.path("metrics.prom");
    std::fs::write(&file, &metrics).expect("write");
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("promtool runs (Debian's `prometheus`; scripts/test.sh installs it)");
    assert!(
        promtool.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
}
