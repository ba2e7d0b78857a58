//! Errors to messages and exit codes.

use std::fmt;
use std::process::ExitCode;

/// Marks an error as the user's input being wrong (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

pub fn report(e: &anyhow::Error) -> ExitCode {
    let bad_input = e
        .chain()
        .any(|c| c.is::<BadInput>() || c.is::<nightshift_spec::SpecError>());
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::from(if bad_input { 2 } else { 1 })
}
