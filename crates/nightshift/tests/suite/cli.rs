//! Bad input is exit code 2 with a message naming the file, line and key; reports take
//! `--json`.

use super::{run, transcript, write_config};

#[test]
fn an_unknown_key_in_the_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), "http://127.0.0.1:9/v1");
    let text = std::fs::read_to_string(&path).expect("read").replace(
        "kind = \"scripted\"",
        "kind = \"scripted\"\napi_key = \"sk-oops\"",
    );
    std::fs::write(&path, text).expect("write");
    let out = run(&["ledger", "--config", "nightshift.toml"], dir.path());
    insta::assert_snapshot!(transcript(&out, dir.path()), @r"
    exit: 2
    --- stdout
    --- stderr
    error: nightshift.toml:7:1: unknown field `api_key`, expected one of `name`, `kind`, `base_url`, `api_key_env`, `model_path`, `threads`, `context_tokens`, `max_output_tokens` (key `provider.api_key`)
    ");
}

#[test]
fn a_model_naming_a_missing_provider_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), "http://127.0.0.1:9/v1");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("provider = \"scripted\"", "provider = \"openai\"");
    std::fs::write(&path, text).expect("write");
    let out = run(
        &[
            "token",
            "create",
            "--config",
            "nightshift.toml",
            "--budget-usd",
            "1",
            "--label",
            "x",
        ],
        dir.path(),
    );
    insta::assert_snapshot!(transcript(&out, dir.path()), @r"
    exit: 2
    --- stdout
    --- stderr
    error: nightshift.toml:11:12: model `small` names provider `openai`, which no [[provider]] defines (defined: scripted) (key `model.provider`)
    ");
}

/// Regression: a store path into a missing folder, or a listen address that is not one,
/// exited 1 when the store or the socket failed to open, naming no file or line.
#[test]
fn a_bad_store_path_or_listen_address_is_bad_input_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), "http://127.0.0.1:9/v1");
    let good = std::fs::read_to_string(&path).expect("read");
    let mut out = String::new();
    for (from, to) in [
        ("sqlite://ledger.db", "sqlite://no/such/folder/ledger.db"),
        (
            "[[provider]]",
            "[gateway]\nlisten = \"127.0.0.1\"\n\n[[provider]]",
        ),
    ] {
        std::fs::write(&path, good.replacen(from, to, 1)).expect("write");
        let run = run(&["ledger", "--config", "nightshift.toml"], dir.path());
        out.push_str(&transcript(&run, dir.path()));
    }
    insta::assert_snapshot!(out, @r"
    exit: 2
    --- stdout
    --- stderr
    error: nightshift.toml:2:7: the folder no/such/folder that would hold the database does not exist; create it, or point `url` into a folder that does (key `store.url`)
    exit: 2
    --- stdout
    --- stderr
    error: nightshift.toml:5:10: `127.0.0.1` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    ");
}

/// Regression: `recipe.prompt_file` read any absolute path (`/etc/shadow` went to a model
/// provider). `run` refuses it before it starts anything.
#[test]
fn a_prompt_file_outside_the_specs_folder_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "http://127.0.0.1:9/v1");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    std::fs::write(
        dir.path().join("shift.toml"),
        "name = \"s\"\n[fleet]\nrepos = [\"repo\"]\n[recipe]\nprompt_file = \"/etc/passwd\"\nworker = \"builtin\"\nmodel = \"small\"\n[budget]\nshift_usd = 1\njob_usd = 1\n",
    )
    .expect("write spec");
    let out = run(
        &["run", "shift.toml", "--config", "nightshift.toml"],
        dir.path(),
    );
    insta::assert_snapshot!(transcript(&out, dir.path()), @r"
    exit: 2
    --- stdout
    --- stderr
    error: shift.toml:5:15: prompt file `/etc/passwd` is /etc/passwd, outside the spec's folder [TMP]: move it into that folder, or set `prompt_file_outside = true` in [recipe] to send it to the model anyway (key `recipe.prompt_file`)
    ");
}

#[test]
fn a_missing_config_file_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["ledger"], dir.path());
    insta::assert_snapshot!(transcript(&out, dir.path()), @r"
    exit: 2
    --- stdout
    --- stderr
    error: configuration file nightshift.toml does not exist; pass --config FILE or set NIGHTSHIFT_CONFIG (the README shows one)
    ");
}

#[test]
fn a_bad_budget_and_an_unknown_parent_are_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "http://127.0.0.1:9/v1");
    let out = run(
        &[
            "token",
            "create",
            "--budget-usd",
            "two",
            "--label",
            "x",
            "--config",
            "nightshift.toml",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --budget-usd: `two` is not a dollar amount (expected digits like 2.50)\n"
    );
    let out = run(
        &[
            "token",
            "create",
            "--budget-usd",
            "1",
            "--label",
            "x",
            "--parent",
            "tok_nope",
            "--config",
            "nightshift.toml",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --parent: parent token `tok_nope` does not exist\n"
    );
    let out = run(&["frobnicate"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown command is bad input"
    );
}

#[test]
fn token_create_prints_the_secret_once_as_json_and_list_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "http://127.0.0.1:9/v1");
    let out = run(
        &[
            "token",
            "create",
            "--budget-usd",
            "2.50",
            "--label",
            "shift-1",
            "--json",
        ],
        dir.path().join("..").as_path(),
    );
    assert_eq!(out.status.code(), Some(2), "no config in the parent folder");
    let out = run(
        &[
            "token",
            "create",
            "--config",
            "nightshift.toml",
            "--budget-usd",
            "2.50",
            "--label",
            "shift-1",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["token"].as_str().expect("token").starts_with("nsk_"));
    assert!(v["id"].as_str().expect("id").starts_with("tok_"));
    assert_eq!(
        (
            v["label"].as_str(),
            v["budget_nanos"].as_i64(),
            v["parent_id"].is_null()
        ),
        (Some("shift-1"), Some(2_500_000_000), true)
    );

    let out = run(
        &["token", "list", "--config", "nightshift.toml", "--json"],
        dir.path(),
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["tokens"][0]["id"], v["id"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(v["token"].as_str().expect("token")),
        "the secret is never shown again"
    );
    let out = run(
        &[
            "token",
            "revoke",
            "--config",
            "nightshift.toml",
            v["id"].as_str().expect("id"),
            "--json",
        ],
        dir.path(),
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["revoked"], true);
}
