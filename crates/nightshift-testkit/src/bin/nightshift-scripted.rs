//! `nightshift-scripted`: the scripted model provider as a standalone server, for benchmarks
//! and out-of-process tests.
//!
//! ```text
//! nightshift-scripted --listen 127.0.0.1:8081 --script steps.toml
//! nightshift-scripted --listen 127.0.0.1:8081 --fixed-text "hi there" --input-tokens 100 --output-tokens 2
//! ```
//!
//! Prints `listening on ADDR` once bound, then serves until killed. Recorded requests (with
//! `--record`) are served at `GET /_scripted/requests`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use nightshift_testkit::{Options, Script, ScriptedProvider, Step, Usage};

#[derive(Parser, Debug)]
#[command(
    name = "nightshift-scripted",
    about = "Serve a scripted model provider"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Script file (`.json` for JSON, TOML otherwise).
    #[arg(
        long,
        conflicts_with = "fixed_text",
        required_unless_present = "fixed_text"
    )]
    script: Option<PathBuf>,
    /// Answer every request with this text (a one-step cycling script).
    #[arg(long)]
    fixed_text: Option<String>,
    /// With --fixed-text: the input tokens to report.
    #[arg(long, default_value_t = 0, requires = "fixed_text")]
    input_tokens: u64,
    /// With --fixed-text: the output tokens to report.
    #[arg(long, default_value_t = 0, requires = "fixed_text")]
    output_tokens: u64,
    /// Record requests (served at GET /_scripted/requests).
    #[arg(long, conflicts_with = "no_record")]
    record: bool,
    /// Do not record requests (the default).
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let script = match (&args.script, &args.fixed_text) {
        (Some(path), _) => {
            Script::load(path).with_context(|| format!("loading {}", path.display()))?
        }
        (None, Some(text)) => Script::cycling([Step::text(text.clone()).with_full_usage(Usage {
            input_tokens: args.input_tokens,
            output_tokens: args.output_tokens,
            ..Usage::default()
        })]),
        (None, None) => bail!("give --script FILE or --fixed-text TEXT"),
    };
    let options = Options {
        record: args.record && !args.no_record,
    };
    let provider = ScriptedProvider::start_on_with(args.listen, script, options)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", provider.addr())?;
    stdout.flush()?;
    drop(stdout);
    provider.wait().await;
    Ok(())
}
