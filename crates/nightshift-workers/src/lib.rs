//! nightshift-workers: external agent CLIs — Codex, Claude Code, OpenCode — as the factory's
//! workers, in pure functions: where each binary is, the configuration files, arguments and
//! environment that point it at the gateway with a job's token (and switch off everything
//! else it would reach), and its JSONL event stream read into one common [`Event`] type.
//!
//! It deliberately runs nothing: the factory starts the process (in its own process group,
//! with a cleared environment, stdin closed and a time limit) and feeds each line of its
//! output to [`parse_line`]; a [`Tally`] keeps what the factory needs at the end.
//!
//! Modules:
//! - `cli`: the CLIs, their binaries and the environment variables that name them.
//! - `launch`: the prompt, config files, arguments and environment of one run.
//! - `events`: the event streams of `codex exec --json`, `claude -p --output-format
//!   stream-json --verbose` and `opencode run --format json`.

mod cli;
mod events;
mod launch;

pub use cli::{AGENTS_DIR_ENV, Cli, NotInstalled, OPENCODE_PLUGIN_DIR_ENV, TOOLS_CACHE_ENV};
pub use events::{End, Event, Tally, Usage, parse_line};
pub use launch::{
    CONTINUE_MARKER, DEFAULT_MAX_OUTPUT_TOKENS, Launch, LaunchInput, claims_done, prompt,
};
