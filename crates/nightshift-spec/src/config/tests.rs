//! The configuration file: good files resolve, each mistake names its key and place.

use super::*;

/// The files are parsed as if they were in `/tmp`: a folder that exists, as the folder of a
/// store's database file must.
fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new("/tmp/nightshift.toml"), text).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[store]
url = "sqlite://ledger.db"

[[provider]]
name = "up"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1/"

[[model]]
name = "small"
provider = "up"
upstream = "small-2026"
input_usd_per_mtok = 0.15
output_usd_per_mtok = "0.60"
"#;

#[test]
fn reads_a_good_file() {
    let c = parse(GOOD).expect("valid");
    assert_eq!(c.store.url, "sqlite:///tmp/ledger.db");
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/v1");
    assert_eq!(c.models[0].upstream, "small-2026");
    assert_eq!(c.models[0].prices.input, Some(150_000_000));
    assert_eq!(c.models[0].prices.output, Some(600_000_000));
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = GOOD.replace("upstream = ", "upstraem = ");
    let err = parse(&text).unwrap_err();
    assert!(
        err.starts_with("/tmp/nightshift.toml:13:1: unknown field `upstraem`"),
        "{err}"
    );
}

#[test]
fn unknown_provider_is_refused_where_it_is_named() {
    let text = GOOD.replace("provider = \"up\"", "provider = \"nope\"");
    let err = parse(&text).unwrap_err();
    assert_eq!(
        err,
        "/tmp/nightshift.toml:12:12: model `small` names provider `nope`, which no [[provider]] defines (defined: up) (key `model.provider`)"
    );
}

#[test]
fn bad_price_is_refused() {
    let text = GOOD.replace("\"0.60\"", "\"six\"");
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains(":15:23: `six` is not a dollar amount"),
        "{err}"
    );
    assert!(err.ends_with("(key `model.output_usd_per_mtok`)"), "{err}");
}

#[test]
fn a_base_url_must_be_an_http_url_with_a_host() {
    for bad in [
        "ftp://h/v1",
        "http:///v1",
        "http://exa mple/v1",
        "127.0.0.1:9/v1",
        "https://user:key@h/v1",
    ] {
        let text = GOOD.replace("http://127.0.0.1:9/v1/", bad);
        assert_eq!(
            parse(&text).unwrap_err(),
            format!(
                "/tmp/nightshift.toml:8:12: `{bad}` is not an http:// or https:// URL with a host (and no user or password: a key goes in `api_key_env`) (key `provider.base_url`)"
            )
        );
    }
    let ok = GOOD.replace("http://127.0.0.1:9/v1/", "https://api.example.com/v1");
    assert_eq!(
        parse(&ok).expect("valid").providers[0].base_url,
        "https://api.example.com/v1"
    );
}

#[test]
fn compatible_provider_needs_a_base_url() {
    let text = GOOD.replace("base_url = \"http://127.0.0.1:9/v1/\"\n", "");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("needs a base_url"), "{err}");
}

const LOCAL: &str = r#"
[[provider]]
name = "here"
kind = "local"

[[model]]
name = "gemma"
provider = "here"
"#;

/// The local example with more keys for its provider.
fn with_local(keys: &str) -> String {
    LOCAL.replace("kind = \"local\"\n", &format!("kind = \"local\"\n{keys}"))
}

#[test]
fn a_local_provider_needs_no_url_key_or_price() {
    let c = parse(LOCAL).expect("valid");
    assert_eq!(
        c.providers[0],
        ProviderConfig {
            name: "here".into(),
            kind: ProviderKind::Local,
            base_url: String::new(),
            api_key_env: None,
            local: Some(LocalProvider {
                model_path: PathBuf::from("/tmp/.cache/models/gemma3-270m-q4_k_m.gguf"),
                threads: LocalThreads::Auto,
                context_tokens: 8192,
                max_output_tokens: 1024,
            }),
        }
    );
    assert!(c.models[0].prices.is_empty(), "free by its provider's kind");
    let set = with_local(
        "model_path = \"m/other.gguf\"\nthreads = 1\ncontext_tokens = 2048\nmax_output_tokens = 256\n",
    );
    let c = parse(&set).expect("valid");
    assert_eq!(
        c.providers[0].local,
        Some(LocalProvider {
            model_path: PathBuf::from("/tmp/m/other.gguf"),
            threads: LocalThreads::Fixed(1),
            context_tokens: 2048,
            max_output_tokens: 256,
        })
    );
}

#[test]
fn a_local_provider_refuses_a_url_a_key_and_a_price() {
    let url = with_local("base_url = \"http://x/v1\"\n");
    assert_eq!(
        parse(&url).unwrap_err(),
        "/tmp/nightshift.toml:5:12: provider `here` of kind `local` runs in the gateway's process and takes no `base_url`; for a model server at a URL (Ollama, vLLM, llama-server) use kind `openai-compatible` (key `provider.base_url`)"
    );
    let key = with_local("api_key_env = \"K\"\n");
    assert!(
        parse(&key)
            .unwrap_err()
            .ends_with("(key `provider.api_key_env`)")
    );
    let priced = format!("{LOCAL}output_usd_per_mtok = \"1.00\"\n");
    assert_eq!(
        parse(&priced).unwrap_err(),
        "/tmp/nightshift.toml:9:23: model `gemma` runs on local provider `here`, which costs $0; remove the price or write 0 (key `model.output_usd_per_mtok`)"
    );
    assert!(
        parse(&format!("{LOCAL}output_usd_per_mtok = 0\n")).is_ok(),
        "0 is fine"
    );
    let threads = with_local("threads = \"many\"\n");
    assert_eq!(
        parse(&threads).unwrap_err(),
        "/tmp/nightshift.toml:5:11: threads is \"auto\" or a whole number from 1 to 1024 (key `provider.threads`)"
    );
    let cap = with_local("context_tokens = 100\nmax_output_tokens = 100\n");
    assert!(
        parse(&cap)
            .unwrap_err()
            .contains("less than context_tokens (100)")
    );
}

#[test]
fn local_settings_on_a_remote_provider_are_refused() {
    let text = GOOD.replace("base_url = ", "threads = 2\nbase_url = ");
    assert_eq!(
        parse(&text).unwrap_err(),
        "/tmp/nightshift.toml:8:11: `threads` is a setting of `local` providers; provider `up` is of kind `openai-compatible` (key `provider.threads`)"
    );
}

/// The README's example must stay a valid configuration.
#[test]
fn the_readme_example_is_valid() {
    let readme = include_str!("../../../../README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block end");
    let c = parse(&readme[start..end]).expect("README example parses");
    assert_eq!(c.providers.len(), 2);
    assert_eq!(
        c.models[1].prices.input,
        Some(0),
        "an integer price is a price"
    );
    assert_eq!(c.models[0].fallback, ["local-qwen"]);
    assert_eq!(
        c.gateway,
        GatewaySettings::default(),
        "the README shows the defaults"
    );
}
