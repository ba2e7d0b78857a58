//! One run of an agent CLI: its prompt, the files it reads its configuration from, its
//! arguments and its environment. Everything points at the gateway with the job's token;
//! update checks, telemetry, plugins, sharing and other outbound traffic are switched off.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::Cli;

/// The output-token cap each request asks for (Codex sends none; the gateway clamps every
/// request to what the budget can pay either way).
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 8192;

/// A line of its own in the CLI's final message that says the task is not finished yet.
pub const CONTINUE_MARKER: &str = "NIGHTSHIFT_CONTINUE";

/// The provider name the CLIs' configurations give the gateway.
const PROVIDER: &str = "nightshift";
/// The environment variable that hands Codex the job's token (its `env_key`).
const CODEX_TOKEN_ENV: &str = "NIGHTSHIFT_GATEWAY_TOKEN";

/// What a run needs.
#[derive(Debug, Clone)]
pub struct LaunchInput<'a> {
    pub cli: Cli,
    pub binary: &'a Path,
    /// The gateway's OpenAI-style base, `http://127.0.0.1:PORT/v1`.
    pub gateway_v1: &'a str,
    /// The job's scoped gateway token.
    pub token: &'a str,
    /// The gateway's model name.
    pub model: &'a str,
    /// The whole prompt (see [`prompt`]).
    pub prompt: &'a str,
    /// The CLI's home: its configuration, state and caches go here, outside the worktree.
    pub home: &'a Path,
    pub max_turns: u32,
    pub max_output_tokens: u32,
    /// OpenCode: the pre-installed `@opencode-ai/plugin` (see
    /// [`Cli::opencode_plugin_dir`]).
    pub opencode_plugin: Option<&'a Path>,
    /// Whether the CLI runs inside the factory's sandbox, which is then the boundary (its
    /// own is off); without it (`[sandbox] mode = "off"`) Codex keeps its own.
    pub sandboxed: bool,
}

/// How to start the process. The caller creates `dirs`, writes `files`, makes `links`
/// (link, target), then runs `program args` in the worktree with stdin closed and an
/// environment cleared down to its base plus `env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dirs: Vec<PathBuf>,
    pub files: Vec<(PathBuf, String)>,
    pub links: Vec<(PathBuf, PathBuf)>,
}

/// The prompt of one iteration: the recipe, the notes earlier iterations left, and how the
/// loop works.
pub fn prompt(recipe: &str, notes: &str, iteration: u32) -> String {
    let mut p = String::with_capacity(recipe.len() + notes.len() + 1024);
    p.push_str(recipe.trim_end());
    p.push_str("\n\n## Progress notes from earlier iterations\n\n");
    if notes.trim().is_empty() {
        p.push_str("(none: this is the first iteration)\n");
    } else {
        p.push_str(notes.trim_end());
        p.push('\n');
    }
    let _ = write!(
        p,
        "\n## How this run works\n\n\
         This is iteration {iteration} of a loop; each iteration starts fresh, with only the \
         repository and these notes. Work in the current directory (a git worktree), take one \
         complete step of the task, and check it (build, tests). Do not commit: your changes \
         are committed for you and checked by gates outside your reach; a change that deletes \
         or weakens tests, or touches .git or CI configuration, is rejected. No network but \
         the model. End with a short summary of what you did and what remains: it becomes the \
         next iteration's notes. If the whole task is not finished yet, put {CONTINUE_MARKER} \
         on the last line.\n"
    );
    p
}

/// A CLI that finished its turn normally claims the task done, unless its final message
/// says [`CONTINUE_MARKER`] on a line of its own. The gates still verify the claim.
pub fn claims_done(final_message: &str) -> bool {
    !final_message
        .lines()
        .any(|l| l.trim().trim_matches(['*', '`', '.']) == CONTINUE_MARKER)
}

impl LaunchInput<'_> {
    pub fn build(&self) -> Launch {
        match self.cli {
            Cli::Codex => self.codex(),
            Cli::ClaudeCode => self.claude_code(),
            Cli::Opencode => self.opencode(),
        }
    }

    fn base_env(&self) -> Vec<(String, String)> {
        let home = self.home.display().to_string();
        let sub = |p: &str| self.home.join(p).display().to_string();
        vec![
            ("HOME".into(), home),
            ("XDG_CONFIG_HOME".into(), sub(".config")),
            ("XDG_DATA_HOME".into(), sub(".local/share")),
            ("XDG_STATE_HOME".into(), sub(".local/state")),
            ("XDG_CACHE_HOME".into(), sub(".cache")),
            ("NO_COLOR".into(), "1".into()),
            ("CI".into(), "1".into()),
        ]
    }

    /// `codex exec --json`: a `model_providers` entry for the gateway's Responses API (the
    /// only format Codex speaks), the token through `env_key`, no retries (the gateway
    /// retries upstream), and the `[features]` that reach github.com and chatgpt.com off.
    fn codex(&self) -> Launch {
        // Codex's own sandbox (bubblewrap again, inside ours) fails there: every command it
        // runs would end `bwrap: execvp codex-linux-sandbox`. Inside the factory's sandbox,
        // that is the boundary: Codex's is off, and it asks nobody. Outside (the sandbox
        // off), Codex's own is all there is.
        let sandbox: &[&str] = if self.sandboxed {
            &["--dangerously-bypass-approvals-and-sandbox"]
        } else {
            &["--sandbox", "workspace-write"]
        };
        let codex_home = self.home.join(".codex");
        let mut provider = toml::Table::new();
        provider.insert("name".into(), "nightshift gateway".into());
        provider.insert("base_url".into(), self.gateway_v1.into());
        provider.insert("wire_api".into(), "responses".into());
        provider.insert("env_key".into(), CODEX_TOKEN_ENV.into());
        provider.insert("request_max_retries".into(), 0.into());
        provider.insert("stream_max_retries".into(), 0.into());
        let mut providers = toml::Table::new();
        providers.insert(PROVIDER.into(), provider.into());
        let mut features = toml::Table::new();
        for f in [
            "plugins",
            "remote_plugin",
            "apps",
            "unbounded_connection_retries",
            "in_app_updates",
            "enable_request_compression",
            "skill_mcp_dependency_install",
            "tool_suggest",
        ] {
            features.insert(f.into(), false.into());
        }
        let mut analytics = toml::Table::new();
        analytics.insert("enabled".into(), false.into());
        let mut history = toml::Table::new();
        history.insert("persistence".into(), "none".into());
        let mut config = toml::Table::new();
        config.insert("model".into(), self.model.into());
        config.insert("model_provider".into(), PROVIDER.into());
        config.insert("check_for_update_on_startup".into(), false.into());
        config.insert("model_providers".into(), providers.into());
        config.insert("features".into(), features.into());
        config.insert("analytics".into(), analytics.into());
        config.insert("history".into(), history.into());
        let text = format!(
            "# Written by nightshift for one iteration: Codex through the factory's gateway.\n{}",
            toml::to_string(&config).unwrap_or_default()
        );
        let mut env = self.base_env();
        env.extend([
            ("CODEX_HOME".into(), codex_home.display().to_string()),
            (CODEX_TOKEN_ENV.into(), self.token.into()),
        ]);
        Launch {
            program: self.binary.to_path_buf(),
            args: ["exec", "--json", "--skip-git-repo-check"]
                .iter()
                .chain(sandbox)
                .chain(&["--color", "never", self.prompt])
                .map(|a| (*a).to_string())
                .collect(),
            env,
            dirs: vec![codex_home.clone()],
            files: vec![(codex_home.join("config.toml"), text)],
            links: Vec::new(),
        }
    }

    /// `claude -p --bare`: the Anthropic variables at the gateway (its `/v1/messages`), every
    /// model alias mapped to the job's model, nonessential traffic off, an output cap and
    /// the turn limit.
    fn claude_code(&self) -> Launch {
        let base = self.gateway_v1.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let config_dir = self.home.join(".claude");
        let mut env = self.base_env();
        env.extend([
            ("CLAUDE_CONFIG_DIR".into(), config_dir.display().to_string()),
            ("ANTHROPIC_BASE_URL".into(), base.to_string()),
            ("ANTHROPIC_API_KEY".into(), self.token.into()),
            ("ANTHROPIC_MODEL".into(), self.model.into()),
            ("ANTHROPIC_SMALL_FAST_MODEL".into(), self.model.into()),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL".into(), self.model.into()),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL".into(), self.model.into()),
            ("ANTHROPIC_DEFAULT_OPUS_MODEL".into(), self.model.into()),
            (
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS".into(),
                self.max_output_tokens.to_string(),
            ),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            ("DISABLE_ERROR_REPORTING".into(), "1".into()),
            ("DISABLE_BUG_COMMAND".into(), "1".into()),
        ]);
        Launch {
            program: self.binary.to_path_buf(),
            args: vec![
                "-p".into(),
                self.prompt.into(),
                "--bare".into(),
                "--output-format".into(),
                "stream-json".into(),
                "--verbose".into(),
                "--max-turns".into(),
                self.max_turns.to_string(),
                "--allowedTools".into(),
                "Bash,Edit,Write,Read".into(),
            ],
            env,
            dirs: vec![config_dir],
            files: Vec::new(),
            links: Vec::new(),
        }
    }

    /// `opencode run --format json`: an `@ai-sdk/openai-compatible` provider at the gateway
    /// (its `/v1/chat/completions`), the output cap as the model's `limit.output`, a session
    /// title given so that no title request is made, snapshots, sharing, updates, web fetches
    /// and downloads off, and the plugin package it installs on first start pre-linked.
    fn opencode(&self) -> Launch {
        let model = format!("{PROVIDER}/{}", self.model);
        let config = json!({
            "$schema": "https://opencode.ai/config.json",
            "model": model,
            "small_model": model,
            "autoupdate": false,
            "share": "disabled",
            "snapshot": false,
            "permission": { "webfetch": "deny", "external_directory": "deny" },
            "provider": {
                PROVIDER: {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "nightshift gateway",
                    "options": { "baseURL": self.gateway_v1, "apiKey": self.token },
                    "models": {
                        self.model: {
                            "name": self.model,
                            "limit": { "context": 200_000, "output": self.max_output_tokens }
                        }
                    }
                }
            }
        });
        let config_path = self.home.join("opencode.json");
        let config_dir = self.home.join(".config/opencode");
        let mut files = vec![(
            config_path.clone(),
            serde_json::to_string_pretty(&config).unwrap_or_default(),
        )];
        let mut links = Vec::new();
        if let Some(plugin) = self.opencode_plugin {
            // OpenCode installs `@opencode-ai/plugin` into its config folder unless the
            // folder's package.json, package-lock.json and node_modules already have it.
            for f in ["package.json", "package-lock.json"] {
                if let Ok(text) = std::fs::read_to_string(plugin.join(f)) {
                    files.push((config_dir.join(f), text));
                }
            }
            links.push((config_dir.join("node_modules"), plugin.join("node_modules")));
        }
        let mut env = self.base_env();
        env.extend([
            ("OPENCODE_CONFIG".into(), config_path.display().to_string()),
            ("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()),
            ("OPENCODE_DISABLE_SHARE".into(), "1".into()),
            ("OPENCODE_DISABLE_MODELS_FETCH".into(), "1".into()),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD".into(), "1".into()),
            ("OPENCODE_DISABLE_DEFAULT_PLUGINS".into(), "1".into()),
            ("OPENCODE_DISABLE_CLAUDE_CODE".into(), "1".into()),
        ]);
        Launch {
            program: self.binary.to_path_buf(),
            args: vec![
                "run".into(),
                "--format".into(),
                "json".into(),
                "--auto".into(),
                "--title".into(),
                "nightshift iteration".into(),
                self.prompt.into(),
            ],
            env,
            dirs: vec![config_dir],
            files,
            links,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(cli: Cli) -> LaunchInput<'static> {
        LaunchInput {
            cli,
            binary: Path::new("/opt/agents/bin/x"),
            gateway_v1: "http://127.0.0.1:9/v1",
            token: "nsk_test",
            model: "agent-model",
            prompt: "Fix it.",
            home: Path::new("/scratch/home"),
            max_turns: 7,
            max_output_tokens: 4096,
            opencode_plugin: None,
            sandboxed: true,
        }
    }

    fn env<'a>(l: &'a Launch, k: &str) -> Option<&'a str> {
        l.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn codex_points_at_the_gateway_responses_api_with_the_token() {
        let l = input(Cli::Codex).build();
        assert_eq!(
            l.files[0].1,
            r#"# Written by nightshift for one iteration: Codex through the factory's gateway.
check_for_update_on_startup = false
model = "agent-model"
model_provider = "nightshift"

[analytics]
enabled = false

[features]
apps = false
enable_request_compression = false
in_app_updates = false
plugins = false
remote_plugin = false
skill_mcp_dependency_install = false
tool_suggest = false
unbounded_connection_retries = false

[history]
persistence = "none"

[model_providers.nightshift]
base_url = "http://127.0.0.1:9/v1"
env_key = "NIGHTSHIFT_GATEWAY_TOKEN"
name = "nightshift gateway"
request_max_retries = 0
stream_max_retries = 0
wire_api = "responses"
"#
        );
        assert_eq!(l.files[0].0, Path::new("/scratch/home/.codex/config.toml"));
        assert_eq!(env(&l, "NIGHTSHIFT_GATEWAY_TOKEN"), Some("nsk_test"));
        assert_eq!(env(&l, "CODEX_HOME"), Some("/scratch/home/.codex"));
        assert_eq!(
            l.args,
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "--color",
                "never",
                "Fix it."
            ]
        );
        let unconfined = LaunchInput {
            sandboxed: false,
            ..input(Cli::Codex)
        }
        .build();
        assert_eq!(
            unconfined.args[3..5],
            ["--sandbox", "workspace-write"],
            "without the factory's sandbox, Codex keeps its own"
        );
    }

    #[test]
    fn claude_code_gets_the_gateway_root_and_its_limits() {
        let l = input(Cli::ClaudeCode).build();
        assert_eq!(env(&l, "ANTHROPIC_BASE_URL"), Some("http://127.0.0.1:9"));
        assert_eq!(env(&l, "ANTHROPIC_API_KEY"), Some("nsk_test"));
        assert_eq!(env(&l, "CLAUDE_CODE_MAX_OUTPUT_TOKENS"), Some("4096"));
        assert_eq!(
            env(&l, "ANTHROPIC_DEFAULT_HAIKU_MODEL"),
            Some("agent-model")
        );
        let args = l.args.join(" ");
        assert!(args.contains("--bare --output-format stream-json --verbose --max-turns 7"));
    }

    #[test]
    fn opencode_names_its_config_and_links_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        std::fs::write(dir.path().join("package-lock.json"), "{\"lock\":1}").unwrap();
        let mut i = input(Cli::Opencode);
        i.opencode_plugin = Some(dir.path());
        let l = i.build();
        let config: serde_json::Value = serde_json::from_str(&l.files[0].1).unwrap();
        assert_eq!(
            config["provider"]["nightshift"]["options"],
            json!({"baseURL": "http://127.0.0.1:9/v1", "apiKey": "nsk_test"})
        );
        assert_eq!(
            config["provider"]["nightshift"]["models"]["agent-model"]["limit"]["output"],
            4096
        );
        assert_eq!(
            env(&l, "OPENCODE_CONFIG"),
            Some("/scratch/home/opencode.json")
        );
        assert_eq!(
            l.files[2],
            (
                PathBuf::from("/scratch/home/.config/opencode/package-lock.json"),
                "{\"lock\":1}".to_string()
            )
        );
        assert_eq!(
            l.links,
            [(
                PathBuf::from("/scratch/home/.config/opencode/node_modules"),
                dir.path().join("node_modules")
            )]
        );
    }

    #[test]
    fn done_unless_the_last_message_asks_to_continue() {
        assert!(claims_done("Fixed add; tests pass."));
        assert!(!claims_done("Fixed add.\nNIGHTSHIFT_CONTINUE"));
        assert!(!claims_done("Half done.\n**NIGHTSHIFT_CONTINUE**\n"));
        assert!(prompt("Fix it.", "", 1).contains("(none: this is the first iteration)"));
    }
}
