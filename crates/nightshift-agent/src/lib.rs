//! nightshift-agent: the built-in agent (worker `builtin`).
//!
//! One call of [`run_iteration`] is one iteration of a ralph loop: a fresh-context
//! tool-calling conversation with a model in the OpenAI Chat Completions format, over the
//! metering gateway (`POST {base_url}/chat/completions`, `Authorization: Bearer {token}`). The
//! first request carries the [`system_prompt`], then one user message with the recipe, a
//! [`repo_map`] of the worktree, the repository's own [`guidance`] files and the progress notes
//! left by earlier iterations; the tools are [`tool_definitions`]. The loop runs each tool
//! call the model makes, sends the results back and asks again, until the model calls
//! `finish`, answers without a tool call, uses up its turns, or the gateway refuses (see
//! [`Stop`]).
//!
//! The agent holds only its gateway token and never passes it to the commands it runs. A
//! loop waiting on the model holds its message history and nothing else: tool outputs are
//! bounded by [`AgentConfig::max_tool_output_bytes`], files are searched and read on the
//! blocking pool and let go, and one HTTP client is shared by every loop of the process.
//!
//! Modules:
//! - `prompt`: the system prompt, the first user message, [`repo_map`] and [`guidance`].
//! - `client`: the Chat Completions request and the reading of its answer.
//! - `run`: the loop, [`run_iteration`].
//! - `search`: the in-process search over non-ignored files behind the `search` tool.
//! - `tools`: [`tool_definitions`] and the tools — `paths` (worktree-relative path
//!   resolution), `files` (`list_files`, `read_file`, `edit_file`, `write_file`), `command`
//!   (`run`) — plus `finish`, which the loop handles itself.

use std::time::Duration;

mod client;
mod prompt;
pub mod review;
mod run;
mod search;
mod tools;

pub use prompt::{first_message_map, guidance, repo_map, system_prompt};
pub use run::{THRASH_REPEATS, run_iteration};
pub use tools::tool_definitions;

/// How an iteration talks to the gateway and how far its tools may go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// The gateway's OpenAI-compatible base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The job's scoped gateway token (sent as `Authorization: Bearer`, never to commands).
    pub token: String,
    /// The model name sent with each request.
    pub model: String,
    /// The most model requests one iteration makes.
    pub max_turns: u32,
    /// `max_tokens` for each request, if any (the gateway may clamp it further).
    pub max_tokens: Option<u32>,
    /// The longest a `run` command may take; the model may ask for less, never more.
    pub command_timeout: Duration,
    /// The most bytes of output one tool sends back to the model (the `run` tool keeps the
    /// head and the tail of a longer output).
    pub max_tool_output_bytes: usize,
    /// The job's process tag ([`nightshift_process::TAG_VAR`]) for the commands the agent
    /// runs; their environment is otherwise the supervisor's one policy.
    pub process_tag: Option<String>,
    /// The sandbox the `run` tool's commands start in, whose evidence also gets the paths
    /// the file tools refused for leading outside the worktree; `None`: unconfined.
    pub sandbox: Option<nightshift_process::Sandbox>,
}

/// The default for [`AgentConfig::max_tool_output_bytes`]: 16 KiB.
pub const DEFAULT_MAX_TOOL_OUTPUT_BYTES: usize = 16 * 1024;

impl Default for AgentConfig {
    /// Empty URL, token and model (set them), 50 turns, no `max_tokens`, 10-minute commands,
    /// 16 KiB of tool output, no process tag.
    fn default() -> Self {
        Self {
            base_url: String::new(),
            token: String::new(),
            model: String::new(),
            max_turns: 50,
            max_tokens: None,
            command_timeout: Duration::from_secs(600),
            max_tool_output_bytes: DEFAULT_MAX_TOOL_OUTPUT_BYTES,
            process_tag: None,
            sandbox: None,
        }
    }
}

impl AgentConfig {
    /// A configuration with the given gateway, token and model and the defaults otherwise.
    pub fn new(
        base_url: impl Into<String>,
        token: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            token: token.into(),
            model: model.into(),
            ..Self::default()
        }
    }
}

/// What the factory gives an iteration to work from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// The recipe's prompt text: the same every iteration.
    pub recipe: String,
    /// The progress notes left by earlier iterations (empty on the first).
    pub progress_notes: String,
    /// The repository map, when the caller kept the one an earlier iteration showed and the
    /// tree has not changed shape since ([`first_message_map`]); `None` walks the tree.
    pub repo_map: Option<String>,
}

/// Why an iteration stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The model called `finish`.
    Finished {
        /// Its summary of the iteration.
        summary: String,
        /// Whether it claims the whole task is complete (to be verified by the gates).
        claims_done: bool,
    },
    /// The model answered without calling a tool.
    AnsweredWithoutTools {
        /// Its answer.
        text: String,
    },
    /// The iteration used all of [`AgentConfig::max_turns`].
    MaxTurns,
    /// The model made the same failing tool call (the same tool, the same arguments, the
    /// same error) [`THRASH_REPEATS`] times in a row: it is not going to get anywhere, and
    /// every further turn would be paid for nothing.
    Thrashing {
        /// The tool it kept calling.
        tool: String,
        /// The error it kept getting.
        error: String,
        /// How many times in a row.
        repeats: u32,
    },
    /// A tool could not run for a reason that is not the model's (the sandbox could not be
    /// set up); the model was not told.
    ToolFailed { message: String },
    /// The gateway refused a call with `402`: the budget is spent.
    BudgetExhausted {
        /// The gateway's error message.
        message: String,
    },
    /// The gateway refused the token with `401` (revoked or unknown).
    Unauthorized {
        /// The gateway's error message.
        message: String,
    },
    /// Any other failure of a model call: another HTTP status (`status` set), a transport
    /// failure or an answer that could not be read (`status` is the answer's status, or
    /// `None` when there was none).
    ModelError {
        /// The HTTP status, when an answer came.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

/// What happens during an iteration, reported as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A model request is about to be sent (`n` counts from 1).
    Turn {
        /// The turn number.
        n: u32,
    },
    /// The model called a tool.
    ToolCall {
        /// The tool's name.
        name: String,
        /// The arguments, as the model sent them (JSON text).
        arguments: String,
    },
    /// A tool's result went back to the model (a valid `finish` has none: it ends the
    /// iteration).
    ToolResult {
        /// The tool's name.
        name: String,
        /// False when the result is an error.
        ok: bool,
        /// The size of the result text.
        bytes: usize,
    },
    /// A `run` command ended.
    Command {
        /// The command line.
        command: String,
        /// Its exit code; `None` when it timed out or died of a signal.
        exit_code: Option<i32>,
        /// Whether it ran out of time (its process group was killed).
        timed_out: bool,
    },
    /// The model said something (the text of an assistant message).
    Message {
        /// The text.
        text: String,
    },
}

/// The result of one iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Why it stopped.
    pub stop: Stop,
    /// Model requests sent (including a refused one).
    pub turns: u32,
    /// Tool calls the model made (including `finish`).
    pub tool_calls: u32,
    /// The progress notes the model left with `finish`, if any.
    pub notes: Option<String>,
}
