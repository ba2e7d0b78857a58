//! The agent CLIs and where their binaries are.

use std::path::{Path, PathBuf};

/// The folder `scripts/install-agents.sh` prints: `node_modules/.bin/{codex,claude,opencode}`
/// and `opencode-plugin/` inside.
pub const AGENTS_DIR_ENV: &str = "NIGHTSHIFT_AGENTS_DIR";
/// Where `scripts/install-agents.sh` keeps its installs (default `$HOME/.cache/nightshift`):
/// `agents/<versions>/` under it, each finished install marked by a `.complete` file.
pub const TOOLS_CACHE_ENV: &str = "NIGHTSHIFT_TOOLS_CACHE";
/// A folder holding `package.json`, `package-lock.json` and `node_modules/` with
/// `@opencode-ai/plugin` installed (default: `$NIGHTSHIFT_AGENTS_DIR/opencode-plugin`).
pub const OPENCODE_PLUGIN_DIR_ENV: &str = "NIGHTSHIFT_OPENCODE_PLUGIN_DIR";

/// An agent CLI the factory can run as a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cli {
    Codex,
    ClaudeCode,
    Opencode,
}

/// The CLI's binary was not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotInstalled(pub String);

impl Cli {
    pub const ALL: [Cli; 3] = [Cli::Codex, Cli::ClaudeCode, Cli::Opencode];

    /// The worker's name in a shift spec.
    pub fn worker(self) -> &'static str {
        match self {
            Self::Codex => "codex",
            Self::ClaudeCode => "claude-code",
            Self::Opencode => "opencode",
        }
    }

    /// The product's name, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Self::Codex => "Codex",
            Self::ClaudeCode => "Claude Code",
            Self::Opencode => "OpenCode",
        }
    }

    /// The npm package that holds it.
    pub fn package(self) -> &'static str {
        match self {
            Self::Codex => "@openai/codex",
            Self::ClaudeCode => "@anthropic-ai/claude-code",
            Self::Opencode => "opencode-ai",
        }
    }

    /// The command's name.
    pub fn binary_name(self) -> &'static str {
        match self {
            Self::Codex => "codex",
            Self::ClaudeCode => "claude",
            Self::Opencode => "opencode",
        }
    }

    /// The environment variable that names the binary directly.
    pub fn binary_env(self) -> &'static str {
        match self {
            Self::Codex => "NIGHTSHIFT_CODEX_BIN",
            Self::ClaudeCode => "NIGHTSHIFT_CLAUDE_CODE_BIN",
            Self::Opencode => "NIGHTSHIFT_OPENCODE_BIN",
        }
    }

    /// The binary: `$NIGHTSHIFT_<CLI>_BIN`, else `$NIGHTSHIFT_AGENTS_DIR/node_modules/.bin/<name>`,
    /// else `<name>` on `PATH`, else the newest complete install of
    /// `scripts/install-agents.sh` in its default place ([`TOOLS_CACHE_ENV`]), so that a user
    /// who ran the script need not export anything. `env` reads a variable (the process
    /// environment in use).
    pub fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, NotInstalled> {
        let install = format!(
            "run scripts/install-agents.sh and set {AGENTS_DIR_ENV} to the folder it prints, or set {} to the `{}` binary",
            self.binary_env(),
            self.binary_name()
        );
        if let Some(path) = env(self.binary_env()).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(NotInstalled(format!(
                    "worker `{}`: {}={} is not an executable file; {install}",
                    self.worker(),
                    self.binary_env(),
                    path.display()
                )))
            };
        }
        if let Some(dir) = env(AGENTS_DIR_ENV).filter(|p| !p.is_empty()) {
            let path = Path::new(&dir)
                .join("node_modules/.bin")
                .join(self.binary_name());
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(NotInstalled(format!(
                    "worker `{}`: {AGENTS_DIR_ENV}={dir} holds no `{}` ({} not found); {install}",
                    self.worker(),
                    self.binary_name(),
                    path.display()
                )))
            };
        }
        if let Some(path) = env("PATH")
            .iter()
            .flat_map(|p| std::env::split_paths(p).collect::<Vec<_>>())
            .map(|d| d.join(self.binary_name()))
            .find(|p| is_executable(p))
        {
            return Ok(path);
        }
        if let Some(path) =
            installed(env).map(|d| d.join("node_modules/.bin").join(self.binary_name()))
            && is_executable(&path)
        {
            return Ok(path);
        }
        Err(NotInstalled(format!(
            "worker `{}` needs the {} CLI (`{}`, npm package {}), which is not installed: {install}",
            self.worker(),
            self.product(),
            self.binary_name(),
            self.package()
        )))
    }

    /// Where OpenCode's first-start plugin package is pre-installed, if known:
    /// `$NIGHTSHIFT_OPENCODE_PLUGIN_DIR`, else `$NIGHTSHIFT_AGENTS_DIR/opencode-plugin`, else
    /// `opencode-plugin/` beside the `node_modules/.bin` that holds `binary`.
    pub fn opencode_plugin_dir(
        binary: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<PathBuf> {
        let candidates = [
            env(OPENCODE_PLUGIN_DIR_ENV).map(PathBuf::from),
            env(AGENTS_DIR_ENV).map(|d| Path::new(&d).join("opencode-plugin")),
            binary
                .parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(|d| d.join("opencode-plugin")),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|d| d.join("node_modules").is_dir() && d.join("package.json").is_file())
    }
}

/// The newest complete install under `$NIGHTSHIFT_TOOLS_CACHE/agents` (default
/// `$HOME/.cache/nightshift/agents`), as the install script leaves it.
fn installed(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let cache = env(TOOLS_CACHE_ENV)
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache/nightshift")))?;
    std::fs::read_dir(cache.join("agents"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let done = std::fs::metadata(e.path().join(".complete")).ok()?;
            Some((done.modified().ok()?, e.path()))
        })
        .max()
        .map(|(_, dir)| dir)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_cli_names_the_install_script() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().display().to_string();
        let env = |k: &str| (k == "PATH").then(|| empty.clone());
        let err = Cli::Codex.resolve(&env).unwrap_err();
        assert_eq!(
            err.0,
            "worker `codex` needs the Codex CLI (`codex`, npm package @openai/codex), which is not installed: run scripts/install-agents.sh and set NIGHTSHIFT_AGENTS_DIR to the folder it prints, or set NIGHTSHIFT_CODEX_BIN to the `codex` binary"
        );
    }

    /// Regression: after `scripts/install-agents.sh`, `nightshift run` found no agent CLI
    /// until the user exported the folder the script printed.
    #[test]
    fn the_install_scripts_default_place_is_found_without_a_variable() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().unwrap();
        let install = |key: &str, complete: bool| {
            let dir = home.path().join(".cache/nightshift/agents").join(key);
            let bin = dir.join("node_modules/.bin");
            std::fs::create_dir_all(&bin).unwrap();
            let codex = bin.join("codex");
            std::fs::write(&codex, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
            if complete {
                std::fs::write(dir.join(".complete"), "").unwrap();
            }
            codex
        };
        let finished = install("codex-1.0", true);
        install("codex-2.0", false);
        let h = home.path().display().to_string();
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().display().to_string();
        let env = |k: &str| match k {
            "HOME" => Some(h.clone()),
            "PATH" => Some(path.clone()),
            _ => None,
        };
        // The half-done install (no `.complete`) is not used.
        assert_eq!(Cli::Codex.resolve(&env).unwrap(), finished);
        assert!(Cli::ClaudeCode.resolve(&env).is_err());
    }

    #[test]
    fn the_agents_dir_comes_before_path() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("node_modules/.bin");
        std::fs::create_dir_all(&bin).unwrap();
        let claude = bin.join("claude");
        std::fs::write(&claude, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
        let agents = dir.path().display().to_string();
        let env = |k: &str| (k == AGENTS_DIR_ENV).then(|| agents.clone());
        assert_eq!(Cli::ClaudeCode.resolve(&env).unwrap(), claude);
        let err = Cli::Opencode.resolve(&env).unwrap_err();
        assert!(err.0.contains("holds no `opencode`"), "{err}");
    }
}
