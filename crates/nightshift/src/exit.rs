//! Errors to messages and exit codes: the one place a run's end becomes a number.

use std::fmt;
use std::process::ExitCode;

/// How a command ended, as its exit code: 0, 1 (a failure of ours, of the machine or of the
/// work itself) or 2 (the user's input is wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The command ran and what it ran failed (every job of a shift failed, say); it has
    /// said why already.
    Failure,
    /// Stopped by SIGINT or SIGTERM, after cleaning up (130, as a shell reports Ctrl-C).
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        match s {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Interrupted => ExitCode::from(130),
        }
    }
}

/// Marks an error as the user's input being wrong (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Whether anything in the chain says the user's input is wrong.
fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<BadInput>()
            || c.is::<nightshift_spec::SpecError>()
            || c.downcast_ref::<nightshift_factory::FactoryError>()
                .is_some_and(nightshift_factory::FactoryError::is_bad_input)
    })
}

/// Print the error with its causes; exit code 2 for bad input, 1 otherwise.
pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::from(if is_bad_input(e) { 2 } else { 1 })
}
