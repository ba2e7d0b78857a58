//! The real binary serving real calls, then the ledger report over what it recorded.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use nightshift_testkit::{Script, ScriptedProvider, Step};

use super::{bin, run, transcript, write_config};

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `nightshift gateway` in `dir` with no proxy in its environment but `env`; its
/// guard and base URL.
fn start_gateway(dir: &Path, env: &[(&str, &str)]) -> (Killed, String) {
    let mut cmd = bin();
    for v in nightshift_gateway::PROXY_VARS
        .iter()
        .chain(&["NO_PROXY", "no_proxy"])
    {
        cmd.env_remove(v);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .args([
            "gateway",
            "--config",
            "nightshift.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let base = line
        .trim()
        .strip_prefix("nightshift gateway listening on ")
        .expect("ready line format")
        .to_string();
    (guard, base)
}

fn create_token(dir: &Path, budget_usd: &str) -> String {
    let out = run(
        &[
            "token",
            "create",
            "--config",
            "nightshift.toml",
            "--budget-usd",
            budget_usd,
            "--label",
            "demo",
            "--json",
        ],
        dir,
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string()
}

#[tokio::test]
async fn upstream_calls_go_through_the_proxy_the_environment_names() {
    let provider = ScriptedProvider::start(Script::cycling([
        Step::text("through the proxy").with_usage(10, 3)
    ]))
    .await
    .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens at the configured upstream: only a proxy can answer for it.
    write_config(dir.path(), "http://127.0.0.1:9/v1");
    let token = create_token(dir.path(), "1");
    let http = reqwest::Client::new();
    let body = serde_json::json!({"model": "small", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]});
    let call = |base: String| {
        http.post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    let (guard, base) = start_gateway(dir.path(), &[]);
    let r = call(base).await.expect("call");
    assert_eq!(r.status().as_u16(), 502);
    let v: serde_json::Value = r.json().await.expect("json");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.starts_with("cannot connect to `scripted`"), "{msg}");
    drop(guard);

    // A forward proxy is sent the whole URL; the scripted provider answers it itself.
    let proxy = format!("http://{}", provider.addr());
    let (_guard, base) = start_gateway(dir.path(), &[("HTTP_PROXY", &proxy)]);
    let r = call(base).await.expect("call");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        v["choices"][0]["message"]["content"], "through the proxy",
        "{v}"
    );
    assert_eq!(provider.requests().len(), 1);
}

#[tokio::test]
async fn the_gateway_binary_meters_calls_and_the_ledger_reports_them() {
    let provider = ScriptedProvider::start(Script::cycling([
        Step::text("hi there").with_usage(1000, 250)
    ]))
    .await
    .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &provider.base_url());
    let token = create_token(dir.path(), "0.01");

    let (_guard, base) = start_gateway(dir.path(), &[]);

    let http = reqwest::Client::new();
    let body = serde_json::json!({"model": "small", "max_tokens": 500, "messages": [{"role": "user", "content": "hello"}]});
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("call");
        statuses.push(r.status().as_u16());
    }
    // Each call costs 1000 × $1/Mtok + 250 × $4/Mtok = $0.002: five fit in $0.01 exactly
    // (the fifth with its output cap clamped from 500 to 351 tokens), the sixth is refused.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 402]);

    let out = run(
        &["ledger", "--config", "nightshift.toml", "--by", "outcome"],
        dir.path(),
    );
    insta::assert_snapshot!(transcript(&out, dir.path()), @r"
    exit: 0
    --- stdout
    outcome                           calls      input    cached   c.write    output   reason.        dollars
    ok                                    5       5000         0         0      1250         0          $0.01
    refused                               1          0         0         0         0         0          $0.00
    total                                 6       5000         0         0      1250         0          $0.01
    --- stderr
    ");
}
