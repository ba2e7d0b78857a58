//! The real binary serving real calls, then the ledger report over what it recorded.

use std::io::{BufRead, BufReader};
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

#[tokio::test]
async fn the_gateway_binary_meters_calls_and_the_ledger_reports_them() {
    let provider = ScriptedProvider::start(Script::cycling([
        Step::text("hi there").with_usage(1000, 250)
    ]))
    .await
    .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &provider.base_url());
    let out = run(
        &[
            "token",
            "create",
            "--config",
            "nightshift.toml",
            "--budget-usd",
            "0.01",
            "--label",
            "demo",
            "--json",
        ],
        dir.path(),
    );
    let token = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();

    let mut child = bin()
        .args([
            "gateway",
            "--config",
            "nightshift.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let _guard = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let base = line
        .trim()
        .strip_prefix("nightshift gateway listening on ")
        .expect("ready line format")
        .to_string();

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
