//! The floor, end to end: `nightshift run` and `nightshift serve` as separate processes on
//! one store, over real HTTP (reqwest), the command worker, real git; the supervisor's
//! actions through the API and the command line, and their effect on the running factory.

mod auth;
mod claude;
mod line;
mod live;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::factory::{World, python_repo};

/// A child process killed (SIGKILL) when dropped, so a failed test leaves nothing running.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Wait for the process to end by itself; its exit code and stdout.
    pub fn finish(mut self, within: Duration) -> (i32, String) {
        let end = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                let mut out = String::new();
                if let Some(mut s) = self.0.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut out);
                }
                return (status.code().unwrap_or(-1), out);
            }
            assert!(
                Instant::now() < end,
                "the process did not end within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `nightshift run shift.toml` in the background.
pub fn start_run(w: &World) -> Running {
    let child = super::bin()
        .args(["run", "shift.toml", "--config", "nightshift.toml", "--json"])
        .current_dir(w.dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(w.path("run.stderr")).expect("stderr file"))
        .spawn()
        .expect("nightshift run starts");
    Running(child)
}

/// `nightshift serve` on a free loopback port, in its own process; its base URL.
pub fn start_floor(dir: &Path) -> (Running, String) {
    let mut child = super::bin()
        .args([
            "serve",
            "--config",
            "nightshift.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.stderr")).expect("stderr file"))
        .spawn()
        .expect("nightshift serve starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the floor says where it is");
    let url = line.trim().trim_end_matches('/').to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "{line}{}",
        std::fs::read_to_string(dir.join("serve.stderr")).unwrap_or_default()
    );
    (Running(child), url)
}

/// `nightshift ARGS --config nightshift.toml` in `dir`, which must succeed; its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--config", "nightshift.toml"]);
    let out = super::run(&all, dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "nightshift {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub async fn get(url: &str) -> Value {
    let r = client().get(url).send().await.expect("GET");
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.expect("JSON")
}

/// POST an action; its status and JSON answer.
pub async fn post(url: &str, body: Option<Value>) -> (u16, Value) {
    let req = client().post(url).json(&body.unwrap_or_else(|| json!({})));
    let r = req.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Poll `f` until it returns `Some`, for at most `within`.
pub async fn until<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        // (the run's stderr, when a test world has one, is in run.stderr)
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A shift over the Python package with the command worker: each iteration appends the
/// supervisor's notes it was given to `notes.log` (a change the gates accept), and takes
/// 0.3 s — or a minute when a note says `slow`.
pub fn spec(name: &str, extra: &str) -> String {
    format!(
        r#"name = "{name}"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Keep a log."
worker = "command"
model = "agent-model"
command = '''
n=$(cat notes.log 2>/dev/null | wc -l)
echo "iteration $((n + 1)): ${{NIGHTSHIFT_NOTES:-no notes}}" | tr '\n' ' ' >> notes.log
echo >> notes.log
case "$NIGHTSHIFT_NOTES" in *slow*) sleep 60 ;; *) sleep 0.3 ;; esac
'''

[gates]
commands = []

[stop]
max_iterations = 40
stall_iterations = 40

[budget]
shift_usd = 1
job_usd = "0.50"

[run]
concurrency = 1
{extra}
"#
    )
}

pub async fn world(name: &str, extra: &str) -> World {
    let w = World::new(nightshift_testkit::Script::new([])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec(name, extra));
    w
}

/// The job's detail from the floor (`null` before the run has recorded it).
pub async fn job(base: &str, shift: &str) -> Value {
    let r = client()
        .get(format!("{base}/api/v1/shifts/{shift}/jobs/calc"))
        .send()
        .await
        .expect("GET");
    if r.status().as_u16() == 404 {
        return Value::Null;
    }
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("JSON")
}

/// Iterations of the job by state.
pub fn states(job: &Value) -> Vec<String> {
    job["iterations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["state"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A job's events of one type, from its history.
pub fn history<'a>(job: &'a Value, kind: &str) -> Vec<&'a Value> {
    job["history"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["type"] == kind).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_pauses_steers_and_kills_a_running_job_from_another_process() {
    let w = world("floor", "").await;
    let run = start_run(&w);
    let (_floor, base) = start_floor(w.dir.path());
    let api = format!("{base}/api/v1/shifts/floor/jobs/calc");

    // Running: at least one iteration judged.
    until(
        Duration::from_secs(30),
        "a first accepted iteration",
        || async {
            let j = job(&base, "floor").await;
            states(&j).iter().any(|s| s == "accepted").then_some(())
        },
    )
    .await;

    // Paused: the iteration at work finishes; no other starts.
    let (status, acted) = post(&format!("{api}/pause"), None).await;
    assert_eq!(status, 202, "{acted}");
    assert_eq!(acted["by"], "floor (loopback)");
    let paused_at = until(
        Duration::from_secs(10),
        "the running iteration to end",
        || async {
            let j = job(&base, "floor").await;
            let s = states(&j);
            (!s.iter().any(|s| s == "running" || s == "committed")).then_some(s.len())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let j = job(&base, "floor").await;
    assert_eq!(
        states(&j).len(),
        paused_at,
        "a paused job starts no iteration"
    );
    assert_eq!(j["state"], "running");
    assert_eq!(j["paused"]["by"], "floor (loopback)");
    let (status, again) = post(&format!("{api}/pause"), None).await;
    assert_eq!(
        (status, again["error"]["message"].clone()),
        (409, json!("job `calc` is already paused"))
    );

    // Steered while paused, then resumed: the next iteration is given the note (it writes
    // it into its change), and says it was steered. The note also makes it slow.
    let (status, _) = post(
        &format!("{api}/steer"),
        Some(json!({"note": "use the parser, slow"})),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = post(&format!("{api}/resume"), None).await;
    assert_eq!(status, 202);
    let steered_n = i64::try_from(paused_at).expect("n") + 1;
    until(
        Duration::from_secs(10),
        "the steered iteration to start",
        || async {
            let j = job(&base, "floor").await;
            (states(&j).len() > paused_at).then_some(())
        },
    )
    .await;

    // Killed mid-iteration (its worker sleeps a minute): the iteration ends at once, its
    // work is committed and gated, and the job stops as killed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    let (status, acted) = post(&format!("{api}/kill"), None).await;
    assert_eq!(status, 202, "{acted}");
    let j = until(
        Duration::from_secs(20),
        "the killed job to finish",
        || async {
            let j = job(&base, "floor").await;
            (j["state"] == "finished").then_some(j)
        },
    )
    .await;
    // Ended, not waited out: the worker had a minute of sleep left.
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(30), "the kill took {took:?}");
    assert_eq!(j["stop_reason"], "killed");
    assert_eq!(j["stop_detail"], "killed by floor (loopback)");
    let its = j["iterations"].as_array().expect("iterations");
    assert_eq!(its.len() as i64, steered_n, "no iteration after the kill");
    let last = &its[its.len() - 1];
    assert_eq!(last["n"], steered_n);
    assert_eq!(last["worker_stop"], "failed");
    assert_eq!(last["steered"], json!(["use the parser, slow"]));
    assert!(
        last["commit_sha"].is_string(),
        "the killed iteration is committed: {last}"
    );
    // Only the steered iteration was given the note; the one before it had none.
    assert_eq!(its[its.len() - 2]["steered"], json!([]));

    // Its diff (from the mirror, through the floor) holds what the killed worker wrote.
    let diff = client()
        .get(format!("{api}/iterations/{steered_n}/diff"))
        .send()
        .await
        .expect("diff")
        .text()
        .await
        .expect("text");
    assert!(
        diff.contains(&format!("+iteration {steered_n}: A supervisor's notes for this iteration: - use the parser, slow (from floor (loopback))")),
        "{diff}"
    );

    // The job's history has every action, with who; the event the kill wrote came first.
    let controls: Vec<String> = history(&j, "control")
        .iter()
        .map(|e| {
            format!(
                "{} by {}",
                e["action"]["kind"].as_str().unwrap_or(""),
                e["by"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        controls,
        [
            "pause by floor (loopback)",
            "steer by floor (loopback)",
            "resume by floor (loopback)",
            "kill by floor (loopback)"
        ]
    );
    // The kill ended the iteration (its worker would have slept a minute): the commit
    // follows the kill's event, not the worker's end. (How fast: bench/floor.sh.)
    let kill_ms = history(&j, "control")
        .last()
        .and_then(|e| e["ts_ms"].as_i64())
        .unwrap_or(0);
    let committed_ms = history(&j, "iteration_committed")
        .last()
        .and_then(|e| e["ts_ms"].as_i64())
        .unwrap_or(i64::MAX);
    eprintln!("kill to commit: {} ms", committed_ms - kill_ms);
    assert!(
        committed_ms - kill_ms < 1000,
        "kill to commit took {} ms",
        committed_ms - kill_ms
    );
    // An action on a finished job changes nothing.
    let before = job(&base, "floor").await["history"]
        .as_array()
        .map(Vec::len);
    let (status, err) = post(&format!("{api}/pause"), None).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(
        job(&base, "floor").await["history"]
            .as_array()
            .map(Vec::len),
        before
    );

    let (code, out) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["jobs"][0]["stop_reason"], "killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_given_while_no_run_is_up_holds_when_the_run_comes_back() {
    let w = world("later", "").await;
    let run = start_run(&w);
    let store = super::factory_resume::store(&w).await;
    until(Duration::from_secs(30), "a first iteration", || async {
        let its = nightshift_store::FactoryStore::iterations(&store, "later", "calc")
            .await
            .expect("iterations");
        (!its.is_empty()).then_some(())
    })
    .await;
    // kill -9, then the pause, from the command line, with no run up.
    drop(run);
    let out = ok(w.dir.path(), &["pause", "later", "calc", "--json"]);
    let acted: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(acted["action"], json!({"kind": "pause"}));
    assert!(
        acted["by"].as_str().unwrap_or("").starts_with("cli ("),
        "{acted}"
    );

    let run = start_run(&w);
    // The resumed run finishes the interrupted iteration and starts no other.
    let settled = until(
        Duration::from_secs(30),
        "the interrupted iteration to be judged",
        || async {
            let its = nightshift_store::FactoryStore::iterations(&store, "later", "calc")
                .await
                .expect("iterations");
            let resumed =
                nightshift_store::FactoryStore::events_of(&store, "later", "shift_resumed")
                    .await
                    .expect("events");
            (!resumed.is_empty() && its.iter().all(|i| i.state.is_judged())).then_some(its.len())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let its = nightshift_store::FactoryStore::iterations(&store, "later", "calc")
        .await
        .expect("iterations");
    assert_eq!(
        its.len(),
        settled,
        "the pause recorded while no run was up holds"
    );

    // Resumed and killed from the command line: the run ends.
    let out = ok(w.dir.path(), &["resume", "later", "calc"]);
    assert_eq!(
        out,
        format!(
            "resume job `calc` of shift `later`: recorded as event {}; a running shift obeys it within a second\n",
            nightshift_store::FactoryStore::last_seq(&store)
                .await
                .expect("seq")
        )
    );
    until(
        Duration::from_secs(10),
        "an iteration after the resume",
        || async {
            let its = nightshift_store::FactoryStore::iterations(&store, "later", "calc")
                .await
                .expect("iterations");
            (its.len() > settled).then_some(())
        },
    )
    .await;
    ok(w.dir.path(), &["kill", "later", "calc"]);
    let (code, out) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["jobs"][0]["stop_reason"], "killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_job_gets_its_extra_iterations_and_keeps_its_history() {
    let w = world("again", "").await;
    let text = std::fs::read_to_string(w.path("shift.toml")).expect("spec");
    w.spec(&text.replace("max_iterations = 40", "max_iterations = 2"));
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["jobs"][0]["stop_reason"], "max_iterations");

    let out = super::run(
        &["requeue", "again", "calc", "--config", "nightshift.toml"],
        w.dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a requeue adds iterations, dollars or both"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ok(
        w.dir.path(),
        &[
            "requeue",
            "again",
            "calc",
            "--iterations",
            "2",
            "--usd",
            "0.25",
            "--json",
        ],
    );
    let acted: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        acted["action"],
        json!({"kind": "requeue", "iterations": 2, "usd_nanos": 250_000_000})
    );

    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(
        (
            job["stop_reason"].clone(),
            job["iterations"].as_i64(),
            job["accepted"].as_i64()
        ),
        (json!("max_iterations"), Some(4), Some(4)),
        "{report:#}"
    );
    let store = super::factory_resume::store(&w).await;
    let started: Vec<i64> =
        nightshift_store::FactoryStore::events_of(&store, "again", "job_started")
            .await
            .expect("events")
            .iter()
            .filter_map(|e| match e.event {
                nightshift_store::Event::JobStarted {
                    budget_left_nanos, ..
                } => Some(budget_left_nanos),
                _ => None,
            })
            .collect();
    // Watched from the terminal: a finished shift is drawn once, and the watch ends.
    let watched = ok(w.dir.path(), &["status", "again", "--watch", "--json"]);
    let lines: Vec<Value> = watched
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{watched}");
    assert_eq!(
        (
            lines[0]["state"].clone(),
            lines[0]["jobs_page"][0]["iteration"].clone(),
            lines[0]["jobs_page"][0]["stop_reason"].clone()
        ),
        (json!("finished"), json!(4), json!("max_iterations"))
    );
    // The second start holds the job's budget (nothing spent: a command worker) and the
    // quarter-dollar the requeue added.
    assert_eq!(started, [500_000_000, 750_000_000]);
}
