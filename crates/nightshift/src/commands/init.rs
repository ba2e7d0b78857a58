//! `nightshift init`: write a shift.toml to start from.

use crate::BadInput;
use crate::cli::InitArgs;

pub fn run(a: InitArgs) -> anyhow::Result<()> {
    if a.output.exists() && !a.force {
        return Err(BadInput(format!(
            "{} already exists; pass --force to overwrite it",
            a.output.display()
        ))
        .into());
    }
    let text = nightshift_spec::scaffold(&a.name, &a.repos, &a.model);
    std::fs::write(&a.output, &text)?;
    // Check what was written the way `run` will, so a bad repository is reported now.
    match nightshift_spec::ShiftSpec::load(&a.output) {
        Ok(spec) => eprintln!(
            "wrote {} with {} repositories; edit the recipe and gates, then: nightshift run {}",
            a.output.display(),
            spec.jobs.len(),
            a.output.display()
        ),
        Err(e) => eprintln!("wrote {}; before running it, fix: {e}", a.output.display()),
    }
    Ok(())
}
