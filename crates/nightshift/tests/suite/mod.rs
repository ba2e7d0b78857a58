mod cli;
mod factory;
mod factory_cli;
mod factory_resume;
mod factory_rules;
mod factory_rust;
mod floor;
mod gateway;
mod guards;
mod landing;
mod redteam;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightshift"));
    c.env_remove("NIGHTSHIFT_CONFIG")
        .env("NIGHTSHIFT_LOG", "error");
    c
}

pub fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("nightshift runs")
}

/// A transcript of a run: exit code, stdout, stderr, with the temporary folder replaced.
pub fn transcript(out: &Output, dir: &Path) -> String {
    let clean =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.to_string_lossy().to_string(), "[TMP]");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        clean(&out.stdout),
        clean(&out.stderr)
    )
}

pub fn write_config(dir: &Path, provider_url: &str) -> PathBuf {
    let path = dir.join("nightshift.toml");
    let text = format!(
        r#"[store]
url = "sqlite://ledger.db"

[[provider]]
name = "scripted"
kind = "scripted"
base_url = "{provider_url}"

[[model]]
name = "small"
provider = "scripted"
input_usd_per_mtok = "1.00"
output_usd_per_mtok = "4.00"
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}
