//! Shared by the suites: a folder of git repositories to point specs at, and a good spec.

mod config;
mod defaults;
mod landing;
mod regressions;
mod shift;

use std::path::{Path, PathBuf};

use nightshift_spec::{Config, ShiftSpec};

pub fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let ok = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .expect("git")
        .success();
    assert!(ok);
}

pub struct Fleet {
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for r in ["repos/billing", "repos/search", "other/tool"] {
            git_repo(&dir.path().join(r));
        }
        std::fs::create_dir_all(dir.path().join("repos/not-a-repo")).expect("mkdir");
        Self { dir }
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("shift.toml")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn parse(&self, text: &str) -> Result<ShiftSpec, String> {
        std::fs::write(self.spec_path(), text).expect("write");
        ShiftSpec::load(&self.spec_path()).map_err(|e| self.clean(&e.to_string()))
    }

    /// The error for `base` with its first `from` replaced by `to`.
    pub fn error_with(&self, base: &str, from: &str, to: &str) -> String {
        assert!(base.contains(from), "`{from}` is not in the spec");
        match self.parse(&base.replacen(from, to, 1)) {
            Ok(_) => panic!("`{to}` was accepted"),
            Err(e) => e,
        }
    }

    /// Parse `text` as `nightshift.toml` in this folder.
    pub fn config(&self, text: &str) -> Result<Config, String> {
        let path = self.path().join("nightshift.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path).map_err(|e| self.clean(&e.to_string()))
    }

    fn clean(&self, message: &str) -> String {
        message.replace(&self.path().display().to_string(), "[TMP]")
    }
}

/// A spec with only the keys a spec cannot do without: everything else takes its default.
pub const MINIMAL: &str = r#"name = "least"

[fleet]
repos = ["other/tool"]

[recipe]
prompt = "Do it."
worker = "builtin"
model = "gpt"

[budget]
shift_usd = 1
job_usd = 1
"#;

pub const GOOD: &str = r#"name = "coverage"

[fleet]
repos = ["repos/*", "other/tool"]

[[fleet.override]]
repo = "tool"
job_usd = 0.5
max_iterations = 2

[recipe]
prompt = "Raise test coverage."
worker = "builtin"
model = "gpt"

[gates]
commands = ["cargo test --quiet", { name = "lint", run = "cargo clippy", timeout_secs = 30 }]

[stop]
max_iterations = 5

[budget]
shift_usd = 10
job_usd = "2.50"
"#;
