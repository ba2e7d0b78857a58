//! The environment every child process gets: one policy, written once.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// The variable that tags a job's processes; its value names the job (the factory uses the
/// job's worktree path, unique on a machine and the same after a restart). Children inherit
/// it, so [`crate::reap_tagged`] finds what a crashed factory left running for the job.
pub const TAG_VAR: &str = "NIGHTSHIFT_TAG";

/// The variable that tags one run's processes (a value unique to the run), so that the
/// run's cleanup finds its descendants wherever they went: another process group, another
/// session, re-parented to init.
pub(crate) const RUN_VAR: &str = "NIGHTSHIFT_RUN";

/// What is kept from this process's environment: where programs are, whose home, the
/// language, where temporary files go, and the build tools' homes (so a gate's `cargo test`
/// or `pytest` finds its toolchain and caches). No other variable: no provider key, no
/// gateway token, no credential passed in the environment. The files under `HOME` and the
/// tools' homes are still readable by what runs here, until the sandbox (a layer of this
/// crate, next) hides them.
pub const KEPT: [&str; 12] = [
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "CARGO_TARGET_DIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "GOPATH",
    "GOCACHE",
    "JAVA_HOME",
];

/// A child's whole environment (the child starts from an empty one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    /// The policy: only the variables [`KEPT`] names, from this process, and
    /// `PYTHONDONTWRITEBYTECODE=1`.
    ///
    /// Python bytecode caches are off because a rejected iteration is reset away but
    /// ignored files stay: a `.pyc` compiled from it is trusted by Python when the next
    /// version of the file has the same size and modification second, and the gates would
    /// test stale code.
    pub fn standard() -> Self {
        let mut env = Self::default();
        for key in KEPT {
            if let Some(value) = std::env::var_os(key) {
                env.vars.insert(key.into(), value);
            }
        }
        env.set("PYTHONDONTWRITEBYTECODE", "1");
        env
    }

    /// Set (or replace) one variable.
    pub fn set(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    pub fn remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.vars.remove(key.as_ref());
        self
    }

    pub fn get(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.vars.get(key.as_ref()).map(OsString::as_os_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_keeps_only_the_listed_variables() {
        let env = Env::standard();
        for (key, _) in env.iter() {
            let key = key.to_string_lossy();
            assert!(
                KEPT.contains(&key.as_ref()) || key == "PYTHONDONTWRITEBYTECODE",
                "{key} passed through"
            );
        }
        assert_eq!(env.get("PYTHONDONTWRITEBYTECODE"), Some(OsStr::new("1")));
        assert_eq!(env.get("PATH"), std::env::var_os("PATH").as_deref());
    }

    #[test]
    fn set_replaces_and_remove_removes() {
        let mut env = Env::default();
        env.set("HOME", "/a").set("HOME", "/b");
        assert_eq!(env.get("HOME"), Some(OsStr::new("/b")));
        env.remove("HOME");
        assert_eq!(env.get("HOME"), None);
    }
}
