//! The tools the model may call: their definitions (the `tools` array of each request) and
//! their dispatch. A tool never fails the loop: a bad call, bad arguments or a failed
//! operation is an error text that goes back to the model.

pub(crate) mod command;
pub(crate) mod files;
pub(crate) mod paths;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AgentConfig;
use crate::search;

/// The most characters of pattern `search` accepts.
const MAX_PATTERN_LEN: usize = 1000;
/// `search`'s default and largest `max_results`.
const DEFAULT_MAX_RESULTS: usize = 100;
const MAX_MAX_RESULTS: usize = 1000;
/// The longest `finish` summary and notes, in bytes (longer ones are cut).
pub(crate) const MAX_SUMMARY_LEN: usize = 8 * 1024;
pub(crate) const MAX_NOTES_LEN: usize = 32 * 1024;

/// The `tools` array sent with every request (OpenAI Chat function tools).
pub fn tool_definitions() -> Value {
    definitions().clone()
}

/// The definitions, built once per process.
pub(crate) fn definitions() -> &'static Value {
    static DEFINITIONS: OnceLock<Value> = OnceLock::new();
    DEFINITIONS.get_or_init(build_definitions)
}

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            },
        },
    })
}

fn build_definitions() -> Value {
    let path = |what: &str| {
        json!({
            "type": "string",
            "description": format!("{what}, relative to the repository root"),
            "maxLength": paths::MAX_PATH_LEN,
        })
    };
    json!([
        function(
            "list_files",
            "List the files and directories under a directory (ignored files left out; directories end with `/`). Paths are relative to the repository root.",
            json!({
                "path": path("The directory (default: the root)"),
                "depth": {
                    "type": "integer", "minimum": 1, "maximum": files::MAX_LIST_DEPTH,
                    "description": format!("How many levels down to list (default {})", files::DEFAULT_LIST_DEPTH),
                },
            }),
            &[],
        ),
        function(
            "read_file",
            "Read a text file, with line numbers. Long files are cut; the note at the end says how to read the rest.",
            json!({
                "path": path("The file"),
                "start_line": { "type": "integer", "minimum": 1, "description": "First line to show (1-based, default 1)" },
                "end_line": { "type": "integer", "minimum": 1, "description": "Last line to show (inclusive, default: the end)" },
            }),
            &["path"],
        ),
        function(
            "search",
            "Search the repository's files (ignored and binary files left out) for a text or a regular expression. Answers `path:line: text` lines.",
            json!({
                "pattern": { "type": "string", "minLength": 1, "maxLength": MAX_PATTERN_LEN, "description": "The text to find (a regular expression when `regex` is true)" },
                "path": path("The directory or file to search (default: the root)"),
                "regex": { "type": "boolean", "description": "Treat `pattern` as a regular expression (Rust syntax; default false: a literal text)" },
                "max_results": { "type": "integer", "minimum": 1, "maximum": MAX_MAX_RESULTS, "description": format!("The most matching lines to show (default {DEFAULT_MAX_RESULTS})") },
            }),
            &["pattern"],
        ),
        function(
            "edit_file",
            "Replace one exact occurrence of `old_text` in a file with `new_text`. `old_text` must match the file exactly (whitespace included) and exactly once: include enough surrounding lines to make it unique.",
            json!({
                "path": path("The file"),
                "old_text": { "type": "string", "minLength": 1, "maxLength": files::MAX_WRITE_BYTES, "description": "The exact text to replace" },
                "new_text": { "type": "string", "maxLength": files::MAX_WRITE_BYTES, "description": "The replacement" },
            }),
            &["path", "old_text", "new_text"],
        ),
        function(
            "write_file",
            "Create a file, or overwrite it entirely, with `content` (parent directories are created). Prefer edit_file to change part of an existing file.",
            json!({
                "path": path("The file"),
                "content": { "type": "string", "maxLength": files::MAX_WRITE_BYTES, "description": "The whole new content" },
            }),
            &["path", "content"],
        ),
        function(
            "run",
            "Run a shell command (`sh -c`) in the repository root: build, test, lint, git status and the like. No input, no network; the output is cut to its head and tail.",
            json!({
                "command": { "type": "string", "minLength": 1, "maxLength": command::MAX_COMMAND_LEN, "description": "The command line" },
                "timeout_secs": { "type": "integer", "minimum": 1, "description": "Seconds before the command is killed (default and most: the configured limit)" },
            }),
            &["command"],
        ),
        function(
            "finish",
            "End this iteration. Call it when your step of the task is done and checked, or when you cannot go further.",
            json!({
                "summary": { "type": "string", "maxLength": MAX_SUMMARY_LEN, "description": "What you did in this iteration and how you checked it" },
                "done": { "type": "boolean", "description": "True only when the WHOLE task is complete and verified (builds and tests pass); false when work remains" },
                "notes": { "type": "string", "maxLength": MAX_NOTES_LEN, "description": "Progress notes for the next iteration: what is done, what remains, what you learned" },
            }),
            &["summary", "done"],
        ),
    ])
}

/// The names of the tools, for error messages.
const TOOL_NAMES: &str = "list_files, read_file, search, edit_file, write_file, run, finish";

#[derive(Deserialize)]
struct ListFilesArgs {
    #[serde(default)]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    depth: Option<u64>,
}

#[derive(Deserialize)]
struct ReadFileArgs {
    path: String,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    start_line: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    end_line: Option<u64>,
}

#[derive(Deserialize)]
struct SearchArgs {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    regex: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    max_results: Option<u64>,
}

#[derive(Deserialize)]
struct EditFileArgs {
    path: String,
    old_text: String,
    new_text: String,
}

#[derive(Deserialize)]
struct WriteFileArgs {
    path: String,
    content: String,
}

#[derive(Deserialize)]
struct RunArgs {
    command: String,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
struct FinishArgs {
    summary: String,
    #[serde(deserialize_with = "lenient::bool")]
    done: bool,
    #[serde(default)]
    notes: Option<String>,
}

/// What a tool call came to.
pub(crate) enum Dispatch {
    /// A result for the model.
    Output {
        /// False when `text` is an error.
        ok: bool,
        /// The text sent back.
        text: String,
        /// For `run`: how the command ended (`None` when it did not start).
        command: Option<CommandEnd>,
    },
    /// The model finished the iteration.
    Finish {
        summary: String,
        done: bool,
        notes: Option<String>,
    },
    /// The tool could not run for a reason that is not the model's (the sandbox could not
    /// be set up): the iteration ends, and the model never hears of it.
    Fatal { message: String },
}

/// How a `run` command ended, for [`crate::Event::Command`].
pub(crate) struct CommandEnd {
    pub command: String,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
}

impl Dispatch {
    fn from_result(result: Result<String, String>) -> Self {
        match result {
            Ok(text) => Self::Output {
                ok: true,
                text,
                command: None,
            },
            Err(message) => error(message),
        }
    }
}

fn error(message: impl std::fmt::Display) -> Dispatch {
    Dispatch::Output {
        ok: false,
        text: format!("error: {message}"),
        command: None,
    }
}

fn parse<T: DeserializeOwned>(name: &str, arguments: &str) -> Result<T, Dispatch> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments).map_err(|e| {
        error(format!(
            "invalid arguments for `{name}`: {e}; send a JSON object that follows the tool's schema"
        ))
    })
}

/// Runs a synchronous tool on the blocking pool, so that the runtime's workers stay free.
async fn blocking(
    root: &Path,
    f: impl FnOnce(&Path) -> Result<String, String> + Send + 'static,
) -> Dispatch {
    let root: PathBuf = root.to_path_buf();
    match tokio::task::spawn_blocking(move || f(&root)).await {
        Ok(result) => Dispatch::from_result(result),
        Err(e) => error(format!("the tool failed: {e}")),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Runs the tool `name` with `arguments` (JSON text) in the worktree `root`. A file tool
/// refused a path that leads outside the worktree is recorded in the sandbox's evidence:
/// the model hears the refusal, the supervisor sees the attempt.
pub(crate) async fn dispatch(
    cfg: &AgentConfig,
    root: &Path,
    name: &str,
    arguments: &str,
) -> Dispatch {
    let out = dispatch_tool(cfg, root, name, arguments).await;
    if let (Some(sandbox), Dispatch::Output { ok: false, .. }) = (&cfg.sandbox, &out)
        && FILE_TOOLS.contains(&name)
        && let Some(path) = serde_json::from_str::<serde_json::Value>(arguments)
            .ok()
            .and_then(|v| v.get("path")?.as_str().map(str::to_owned))
        && paths::leads_outside(root, &path)
    {
        sandbox.evidence.record(
            name,
            nightshift_process::sandbox::Blocked::Path {
                path: truncate(path, 300),
            },
        );
    }
    out
}

/// The tools that take a `path`.
const FILE_TOOLS: [&str; 5] = [
    "list_files",
    "read_file",
    "search",
    "edit_file",
    "write_file",
];

async fn dispatch_tool(cfg: &AgentConfig, root: &Path, name: &str, arguments: &str) -> Dispatch {
    let max_bytes = cfg.max_tool_output_bytes.max(1024);
    match name {
        "list_files" => {
            let args: ListFilesArgs = match parse(name, arguments) {
                Ok(a) => a,
                Err(d) => return d,
            };
            let path = args.path.unwrap_or_default();
            let depth = args.depth.map_or(files::DEFAULT_LIST_DEPTH, |d| {
                usize::try_from(d).unwrap_or(usize::MAX)
            });
            blocking(root, move |root| {
                files::list_files(root, &path, depth, max_bytes)
            })
            .await
        }
        "read_file" => {
            let args: ReadFileArgs = match parse(name, arguments) {
                Ok(a) => a,
                Err(d) => return d,
            };
            blocking(root, move |root| {
                files::read_file(root, &args.path, args.start_line, args.end_line, max_bytes)
            })
            .await
        }
        "search" => match parse(name, arguments) {
            Ok(args) => search_tool(root, args, max_bytes).await,
            Err(d) => d,
        },
        "edit_file" => {
            let args: EditFileArgs = match parse(name, arguments) {
                Ok(a) => a,
                Err(d) => return d,
            };
            blocking(root, move |root| {
                files::edit_file(root, &args.path, &args.old_text, &args.new_text)
            })
            .await
        }
        "write_file" => {
            let args: WriteFileArgs = match parse(name, arguments) {
                Ok(a) => a,
                Err(d) => return d,
            };
            blocking(root, move |root| {
                files::write_file(root, &args.path, &args.content)
            })
            .await
        }
        "run" => match parse(name, arguments) {
            Ok(args) => run_tool(cfg, root, args, max_bytes).await,
            Err(d) => d,
        },
        "finish" => {
            let args: FinishArgs = match parse(name, arguments) {
                Ok(a) => a,
                Err(d) => return d,
            };
            Dispatch::Finish {
                summary: truncate(args.summary, MAX_SUMMARY_LEN),
                done: args.done,
                notes: args.notes.map(|n| truncate(n, MAX_NOTES_LEN)),
            }
        }
        other => error(format!(
            "unknown tool `{}`; the tools are: {TOOL_NAMES}",
            truncate(other.to_owned(), 100)
        )),
    }
}

/// `search`: a literal or regex pattern over the repository (or a folder of it).
async fn search_tool(root: &Path, args: SearchArgs, max_bytes: usize) -> Dispatch {
    if args.pattern.is_empty() {
        return error("pattern is empty");
    }
    if args.pattern.len() > MAX_PATTERN_LEN {
        return error(format!("pattern is longer than {MAX_PATTERN_LEN} bytes"));
    }
    let max_results = args.max_results.map_or(DEFAULT_MAX_RESULTS, |n| {
        usize::try_from(n)
            .unwrap_or(MAX_MAX_RESULTS)
            .clamp(1, MAX_MAX_RESULTS)
    });
    blocking(root, move |root| {
        let target = paths::resolve(root, args.path.as_deref().unwrap_or_default())?;
        if !target.full.exists() {
            return Err(format!("`{}` does not exist", target.rel));
        }
        let query = search::Query {
            pattern: &args.pattern,
            regex: args.regex.unwrap_or(false),
            max_results,
            max_bytes,
        };
        search::search(root, &target.full, &query)
    })
    .await
}

/// `run`: a shell command in the worktree, within the configured time limit.
async fn run_tool(cfg: &AgentConfig, root: &Path, args: RunArgs, max_bytes: usize) -> Dispatch {
    if args.command.trim().is_empty() {
        return error("command is empty");
    }
    if args.command.len() > command::MAX_COMMAND_LEN {
        return error(format!(
            "command is longer than {} bytes; write a script file and run it",
            command::MAX_COMMAND_LEN
        ));
    }
    let timeout = args.timeout_secs.map_or(cfg.command_timeout, |s| {
        Duration::from_secs(s.max(1)).min(cfg.command_timeout)
    });
    match command::run(
        root,
        &args.command,
        timeout,
        cfg.process_tag.as_deref(),
        cfg.sandbox.clone(),
        max_bytes,
    )
    .await
    {
        Ok(done) => Dispatch::Output {
            ok: !done.timed_out && done.exit_code == Some(0),
            text: done.text,
            command: Some(CommandEnd {
                command: args.command,
                exit_code: done.exit_code,
                timed_out: done.timed_out,
            }),
        },
        Err(f) if f.sandbox => Dispatch::Fatal { message: f.message },
        Err(f) => error(f.message),
    }
}

/// Deserializers that take what small models send: numbers as strings, booleans as strings.
mod lenient {
    use serde::{Deserialize, Deserializer, de::Error as _};
    use serde_json::Value;

    pub(super) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as u64)),
                _ => Err(D::Error::custom(format!(
                    "expected a positive integer, got {n}"
                ))),
            },
            Value::String(s) => {
                s.trim().parse().map(Some).map_err(|_| {
                    D::Error::custom(format!("expected a positive integer, got {s:?}"))
                })
            }
            other => Err(D::Error::custom(format!(
                "expected a positive integer, got {other}"
            ))),
        }
    }

    pub(super) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(D::Error::custom(format!(
                "expected true or false, got {other}"
            ))),
        }
    }

    pub(super) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            other => bool(other).map(Some).map_err(D::Error::custom),
        }
    }
}
