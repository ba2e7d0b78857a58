//! The `nightshift` command line: definitions, one module per command, and the one place
//! that turns an error into a message and an exit code (0 ok, 1 runtime failure, 2 bad
//! input).

#![expect(
    clippy::print_stdout,
    reason = "printing reports is what the command layer is for"
)]

mod cli;
mod commands;
mod exit;

use std::process::ExitCode;

use clap::Parser;

pub use exit::{BadInput, ExitStatus};

pub fn main() -> ExitCode {
    // Inside a sandbox this binary is its init: no command line of ours, no runtime.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == nightshift_factory::SANDBOX_INIT_ARG)
    {
        let code = nightshift_factory::sandbox_init(std::env::args_os().skip(2));
        return ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(status) => status.into(),
        Err(e) => exit::report(&e),
    }
}

fn init_tracing(verbose: u8) {
    // llama.cpp's own messages (target `llama-cpp-2`) are chatty at warn, e.g. one per
    // call about its cache: shown from -vv on, errors always.
    let default = match verbose {
        0 => "warn,llama-cpp-2=error",
        1 => "info,nightshift=info,llama-cpp-2=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NIGHTSHIFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
