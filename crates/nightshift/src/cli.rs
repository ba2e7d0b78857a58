//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "NIGHTSHIFT_CONFIG";

#[derive(Debug, Parser)]
#[command(
    name = "nightshift",
    version,
    about = "A software factory for AI coding agents: metered, budgeted, gated."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); NIGHTSHIFT_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The configuration file (providers, models, store).
    #[arg(long, env = ENV_CONFIG, default_value = "nightshift.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a shift.toml for the repositories given.
    Init(InitArgs),
    /// Start (or continue) a shift and watch it.
    Run(RunArgs),
    /// Resume a paused shift or job; a shift that is not paused is continued here after a
    /// stop or a crash.
    Resume(ResumeArgs),
    /// State of shifts and their jobs.
    Status(StatusArgs),
    /// The accepted change of one job: its branch against where it started.
    Diff(DiffArgs),
    /// Print the JSON Schema of shift.toml.
    Schema,
    /// Run the metering gateway as a service.
    Gateway(GatewayArgs),
    /// Mint, list and revoke scoped gateway tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Model calls, tokens and dollars, grouped as asked.
    Ledger(LedgerArgs),
    /// Check that this host can sandbox workers and gates, and what it enforces.
    Doctor(DoctorArgs),
    /// Serve the floor: the line live in a browser, its API, events and metrics.
    Serve(ServeArgs),
    /// Pause a shift (no job or iteration starts) or one job (no iteration starts).
    Pause(ControlArgs),
    /// End a job's running iteration now (its work is kept and gated) and stop the job.
    Kill(KillArgs),
    /// Give a job's next iteration a note in its prompt.
    Steer(SteerArgs),
    /// Give a stopped job more iterations or dollars (within the shift's budget).
    Requeue(RequeueArgs),
    /// Serve the floor's reads and actions as an MCP server on stdio, for an agent.
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub work: WorkArgs,
    /// Address to listen on (IP:PORT); overrides [floor] listen. Any address but loopback
    /// needs floor tokens.
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The shift's name.
    pub shift: String,
    /// One job of it; the whole shift when omitted.
    pub job: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    pub shift: String,
    pub job: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SteerArgs {
    pub shift: String,
    pub job: String,
    /// The note, given to the job's next iteration as part of its prompt.
    pub note: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequeueArgs {
    pub shift: String,
    pub job: String,
    /// Iterations to add to the job's limit.
    #[arg(long)]
    pub iterations: Option<u32>,
    /// Dollars to add to the job's budget, e.g. 0.50.
    #[arg(long)]
    pub usd: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Repositories: local paths (globs allowed) or git URLs.
    pub repos: Vec<String>,
    /// The shift's name.
    #[arg(long, default_value = "my-shift")]
    pub name: String,
    /// The model, as named in nightshift.toml.
    #[arg(long, default_value = "gpt-4o-mini")]
    pub model: String,
    /// Where to write the spec.
    #[arg(long, short, default_value = "shift.toml")]
    pub output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The factory's working folder (mirrors, worktrees); default `.nightshift` beside the config.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Use a running `nightshift gateway` on the same store (e.g. http://127.0.0.1:8787)
    /// instead of starting one in-process.
    #[arg(long, env = "NIGHTSHIFT_GATEWAY_URL")]
    pub gateway: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The shift spec.
    pub spec: PathBuf,
    /// Serve the floor in this process too, on this address (IP:PORT).
    #[arg(long)]
    pub floor: Option<String>,
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The shift's name.
    pub shift: String,
    /// A paused job of it to resume.
    pub job: Option<String>,
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A shift's name; all shifts when omitted.
    pub shift: Option<String>,
    /// Redraw the shift's jobs every second until it finishes (with --json: one JSON line
    /// per second).
    #[arg(long, requires = "shift")]
    pub watch: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub shift: String,
    pub job: String,
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on; overrides [gateway] listen.
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token with a budget; prints the secret once.
    Create(TokenCreateArgs),
    /// List tokens with their budgets and spend.
    List(TokenListArgs),
    /// Revoke a token (and so every token under it).
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Budget in US dollars, e.g. 2.50 (a gateway token's; floor tokens have none).
    #[arg(long, required_unless_present = "floor")]
    pub budget_usd: Option<String>,
    /// Mint a floor token instead: `viewer` reads the floor, `operator` also acts on it.
    #[arg(long, value_enum, conflicts_with_all = ["parent", "expires_in_secs"])]
    pub floor: Option<FloorRoleArg>,
    /// Parent token (its id `tok_…` or its secret `nsk_…`); its budget applies too.
    #[arg(long)]
    pub parent: Option<String>,
    /// What the token is for, e.g. a shift or job name.
    #[arg(long)]
    pub label: String,
    /// Expire the token after this many seconds.
    #[arg(long)]
    pub expires_in_secs: Option<u64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The token's id (`tok_…`).
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FloorRoleArg {
    Viewer,
    Operator,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum By {
    /// Per job of the shift given with --shift.
    Job,
    Token,
    Model,
    Label,
    Outcome,
}

#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// How to group the totals.
    #[arg(long, value_enum, default_value = "model")]
    pub by: By,
    /// Only this shift's calls (required with --by job).
    #[arg(long)]
    pub shift: Option<String>,
    #[arg(long)]
    pub json: bool,
}
