//! An agent supervises the factory: the real Claude Code CLI (`scripts/install-agents.sh`),
//! driven by the scripted provider, is given `nightshift mcp` through `--mcp-config` and
//! pauses a running job with the floor's `pause` tool.

use std::time::Duration;

use nightshift_store::{Control, Event, FactoryStore};
use nightshift_testkit::{Script, Step};
use serde_json::json;

use super::super::factory::{World, python_repo};
use super::{start_run, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_pauses_a_running_job_through_nightshift_mcp() {
    let w = World::new(Script::new([
        Step::tool_call(
            "mcp__nightshift__pause",
            json!({"shift": "cc", "job": "calc"}),
        ),
        Step::text("The job is paused."),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(&super::spec("cc", ""));
    let run = start_run(&w);
    let store = super::super::factory_resume::store(&w).await;
    until(Duration::from_secs(30), "a first iteration", || async {
        let its = store.iterations("cc", "calc").await.ok()?;
        (!its.is_empty()).then_some(())
    })
    .await;

    let config = w.path("mcp.json");
    std::fs::write(
        &config,
        json!({"mcpServers": {"nightshift": {
            "command": env!("CARGO_BIN_EXE_nightshift"),
            "args": ["mcp", "--config", w.path("nightshift.toml")],
            "env": {"NIGHTSHIFT_LOG": "error"}
        }}})
        .to_string(),
    )
    .expect("mcp config");
    let home = w.path("claude-home");
    std::fs::create_dir_all(&home).expect("home");
    let base = w.provider.base_url();
    let claude = super::super::factory_cli::agents_dir().join("node_modules/.bin/claude");
    let out = std::process::Command::new(claude)
        .args([
            "-p",
            "Pause job calc of shift cc.",
            "--bare",
            "--output-format",
            "stream-json",
            "--verbose",
            "--max-turns",
            "4",
        ])
        .args([
            "--mcp-config",
            &config.display().to_string(),
            "--allowedTools",
            "mcp__nightshift__pause",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("ANTHROPIC_BASE_URL", base.trim_end_matches("/v1"))
        .env("ANTHROPIC_API_KEY", "sk-scripted")
        .env("ANTHROPIC_MODEL", "agent-model")
        .env("ANTHROPIC_SMALL_FAST_MODEL", "agent-model")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("CI", "1")
        .current_dir(w.dir.path())
        .output()
        .expect("claude runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Claude Code was offered the floor's tools, called `pause`, and read its answer.
    let requests = w.provider.requests();
    let offered: Vec<String> = requests[0].body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        offered.contains(&"mcp__nightshift__pause".to_string()),
        "{offered:?}"
    );
    let answered = requests
        .last()
        .map(|r| r.body.to_string())
        .unwrap_or_default();
    assert!(
        answered.contains("tool_result") && answered.contains("\\\"by\\\": \\\"mcp\\\""),
        "{answered}"
    );

    let controls: Vec<(Option<String>, Event)> = store
        .events_of("cc", "control")
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.job, e.event))
        .collect();
    assert_eq!(
        controls,
        [(
            Some("calc".to_string()),
            Event::Control {
                action: Control::Pause,
                by: "mcp".into(),
                reason: None
            }
        )]
    );
    // And the job obeys: once its running iteration ends, no other starts.
    let settled = until(
        Duration::from_secs(10),
        "the running iteration to end",
        || async {
            let its = store.iterations("cc", "calc").await.ok()?;
            its.iter().all(|i| i.state.is_judged()).then_some(its.len())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store
            .iterations("cc", "calc")
            .await
            .expect("iterations")
            .len(),
        settled
    );
    super::ok(w.dir.path(), &["kill", "cc", "calc"]);
    let (code, _) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 0);
}
