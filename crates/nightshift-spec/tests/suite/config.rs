//! The configuration file's settings that a red-team pass found unchecked: a store or a
//! listen address that could not work, and zeros that mean nothing, were accepted and
//! failed later with no file or line.

use nightshift_spec::{GatewaySettings, StoreConfig};

use super::Fleet;

const BASE: &str = r#"[store]
url = "sqlite://ledger.db"

[gateway]
max_retries = 2

[[provider]]
name = "up"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[[model]]
name = "small"
provider = "up"
input_usd_per_mtok = 1
output_usd_per_mtok = 4
"#;

#[test]
fn a_store_url_is_checked_where_it_is_written() {
    let f = Fleet::new();
    let mut out = String::new();
    for url in [
        "postgres://db.example.com/nightshift",
        "mysql://db/nightshift",
        "sqlite:ledger.db",
        "sqlite://",
        "sqlite://no/such/folder/ledger.db",
    ] {
        let text = BASE.replace("sqlite://ledger.db", url);
        let err = f.config(&text).expect_err(url);
        out.push_str(&format!("{url}:\n  {err}\n"));
    }
    let missing = f.config(&BASE.replace("url = \"sqlite://ledger.db\"\n", ""));
    out.push_str(&format!("no url:\n  {}\n", missing.expect_err("no url")));
    insta::assert_snapshot!(out, @r#"
    postgres://db.example.com/nightshift:
      [TMP]/nightshift.toml:2:7: PostgreSQL stores are not supported yet; use `sqlite://PATH` (key `store.url`)
    mysql://db/nightshift:
      [TMP]/nightshift.toml:2:7: `mysql://db/nightshift` is not a supported store; write `sqlite://PATH` (relative to this file) or `sqlite::memory:` (key `store.url`)
    sqlite:ledger.db:
      [TMP]/nightshift.toml:2:7: `sqlite:ledger.db` is not a supported store; write `sqlite://PATH` (relative to this file) or `sqlite::memory:` (key `store.url`)
    sqlite://:
      [TMP]/nightshift.toml:2:7: the URL names no database file; write `sqlite://PATH`, e.g. `sqlite://nightshift.db` (key `store.url`)
    sqlite://no/such/folder/ledger.db:
      [TMP]/nightshift.toml:2:7: the folder [TMP]/no/such/folder that would hold the database does not exist; create it, or point `url` into a folder that does (key `store.url`)
    no url:
      [TMP]/nightshift.toml:1:1: [store] needs `url`: `sqlite://PATH` (relative to this file) or `sqlite::memory:`; or remove [store] to keep nightshift.db beside this file (key `store.url`)
    "#);

    let store = |url: &str| {
        f.config(&BASE.replace("sqlite://ledger.db", url))
            .map(|c| c.store)
    };
    let dir = f.path().display().to_string();
    assert_eq!(
        store("sqlite://ledger.db?mode=rwc"),
        Ok(StoreConfig {
            url: format!("sqlite://{dir}/ledger.db?mode=rwc")
        })
    );
    assert_eq!(
        store(&format!("sqlite://{dir}/repos/ledger.db")),
        Ok(StoreConfig {
            url: format!("sqlite://{dir}/repos/ledger.db")
        })
    );
    for memory in ["sqlite::memory:", "sqlite://:memory:"] {
        assert_eq!(
            store(memory),
            Ok(StoreConfig {
                url: memory.to_string()
            })
        );
    }
}

#[test]
fn a_listen_address_must_be_host_and_port() {
    let f = Fleet::new();
    let with_listen = |listen: &str| {
        f.config(&BASE.replace("max_retries = 2", &format!("listen = {listen:?}")))
            .map(|c| c.gateway.listen)
    };
    let mut out = String::new();
    for bad in [
        "127.0.0.1",
        "127.0.0.1:99999",
        ":8787",
        "999.1.1.1:80",
        "http://h:80",
        "::1:80",
    ] {
        out.push_str(&format!("{bad}:\n  {}\n", with_listen(bad).expect_err(bad)));
    }
    insta::assert_snapshot!(out, @r#"
    127.0.0.1:
      [TMP]/nightshift.toml:5:10: `127.0.0.1` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    127.0.0.1:99999:
      [TMP]/nightshift.toml:5:10: `127.0.0.1:99999` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    :8787:
      [TMP]/nightshift.toml:5:10: `:8787` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    999.1.1.1:80:
      [TMP]/nightshift.toml:5:10: `999.1.1.1:80` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    http://h:80:
      [TMP]/nightshift.toml:5:10: `http://h:80` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    ::1:80:
      [TMP]/nightshift.toml:5:10: `::1:80` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787 (key `gateway.listen`)
    "#);
    for good in [
        "127.0.0.1:8787",
        "0.0.0.0:0",
        "[::1]:8787",
        "localhost:8787",
        "gw.internal-1:80",
    ] {
        assert_eq!(with_listen(good), Ok(good.to_string()));
    }
}

#[test]
fn meaningless_zeros_in_the_gateway_and_models_are_refused() {
    let f = Fleet::new();
    let mut out = String::new();
    for key in [
        "max_body_bytes",
        "connect_timeout_ms",
        "request_timeout_ms",
        "stream_idle_timeout_ms",
        "input_bytes_per_token",
    ] {
        let text = BASE.replace("max_retries = 2", &format!("{key} = 0"));
        out.push_str(&format!("{key}:\n  {}\n", f.config(&text).expect_err(key)));
    }
    let model = format!("{BASE}max_output_tokens = 0\n");
    out.push_str(&format!(
        "model max_output_tokens:\n  {}\n",
        f.config(&model).expect_err("model cap")
    ));
    let negative = BASE.replace("max_retries = 2", "request_timeout_ms = -5");
    out.push_str(&format!(
        "negative:\n  {}\n",
        f.config(&negative).expect_err("negative")
    ));
    let typed = BASE.replace("max_retries = 2", "max_body_bytes = \"16M\"");
    out.push_str(&format!(
        "string:\n  {}\n",
        f.config(&typed).expect_err("string")
    ));
    insta::assert_snapshot!(out, @r#"
    max_body_bytes:
      [TMP]/nightshift.toml:5:18: must be at least 1 (key `gateway.max_body_bytes`)
    connect_timeout_ms:
      [TMP]/nightshift.toml:5:22: must be at least 1 (key `gateway.connect_timeout_ms`)
    request_timeout_ms:
      [TMP]/nightshift.toml:5:22: must be at least 1 (key `gateway.request_timeout_ms`)
    stream_idle_timeout_ms:
      [TMP]/nightshift.toml:5:26: must be at least 1 (key `gateway.stream_idle_timeout_ms`)
    input_bytes_per_token:
      [TMP]/nightshift.toml:5:25: must be at least 1 (key `gateway.input_bytes_per_token`)
    model max_output_tokens:
      [TMP]/nightshift.toml:17:21: must be at least 1 (key `model.max_output_tokens`)
    negative:
      [TMP]/nightshift.toml:5:22: invalid value: integer `-5`, expected u64 (key `gateway.request_timeout_ms`)
    string:
      [TMP]/nightshift.toml:5:18: invalid type: string "16M", expected usize (key `gateway.max_body_bytes`)
    "#);

    // Zero is a choice where it means something: no retries, no backoff, no waiting.
    let zeros = BASE.replace(
        "max_retries = 2",
        "max_retries = 0\nretry_base_ms = 0\nretry_after_cap_ms = 0\ninput_overhead_tokens = 0",
    );
    assert_eq!(
        f.config(&zeros).expect("valid").gateway,
        GatewaySettings {
            max_retries: 0,
            retry_base_ms: 0,
            retry_after_cap_ms: 0,
            input_overhead_tokens: 0,
            ..GatewaySettings::default()
        }
    );
}

#[test]
fn missing_provider_and_model_keys_are_named_at_their_table() {
    let f = Fleet::new();
    let mut out = String::new();
    for (what, from, to) in [
        ("provider kind", "kind = \"openai-compatible\"\n", ""),
        ("provider name", "name = \"up\"\n", ""),
        ("model provider", "provider = \"up\"\n", ""),
        ("model name", "name = \"small\"\n", ""),
    ] {
        let err = f.config(&BASE.replacen(from, to, 1)).expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r#"
    provider kind:
      [TMP]/nightshift.toml:7:1: a [[provider]] needs a `kind`: openai, anthropic, openai-compatible, scripted or local (key `provider.kind`)
    provider name:
      [TMP]/nightshift.toml:7:1: a [[provider]] needs a `name`, which [[model]] entries use to refer to it (key `provider.name`)
    model provider:
      [TMP]/nightshift.toml:12:1: a [[model]] needs a `provider`: the name of a [[provider]] in this file (key `model.provider`)
    model name:
      [TMP]/nightshift.toml:12:1: a [[model]] needs a `name`: the name clients and shift specs ask for (key `model.name`)
    "#);
}
