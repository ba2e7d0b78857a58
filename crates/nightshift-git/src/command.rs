//! How `git` is run: a scrubbed environment, hardening options, the factory's identity.
//!
//! Every hardened call (all but reads of configuration) carries `-c` overrides for the
//! keys that would make git run a program ([`HARDENING`] and the `Override` keys of
//! `trust::keys`), and is refused when the repository's own configuration sets a key no
//! override can reach (a filter driver, a remote's upload-pack, an include): see
//! `trust::keys::refuse_untrusted`.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::GitError;

/// Who the factory's commits are authored and committed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Default for Identity {
    /// `nightshift <nightshift@localhost>`.
    fn default() -> Self {
        Identity {
            name: "nightshift".to_owned(),
            email: "nightshift@localhost".to_owned(),
        }
    }
}

/// Variables that would point git at another repository, index, object store or
/// configuration than the one a command is meant for (they are set, for instance, when
/// the factory itself runs inside a git hook).
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_QUARANTINE_PATH",
    "GIT_REPLACE_REF_BASE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_SHALLOW_FILE",
    "GIT_GRAFT_FILE",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_EDITOR",
    "GIT_ATTR_SOURCE",
    "GIT_SEQUENCE_EDITOR",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
];

/// `-c` options for every command but reading configuration, besides the command-running
/// keys of `trust::keys` (hooks, fsmonitor, editors, signing programs): no signing, no
/// automatic gc (it may detach and race later commands), no colour, no submodule recursion
/// (it could reach the network), bare mirrors usable from their folder, no user-wide ignore
/// file: what is committed and cleaned depends on the repository's own `.gitignore` files
/// only, the same on every machine; and no checksum over the index. (`--no-verify` alone
/// would still run `prepare-commit-msg`, `post-commit`, `post-checkout` and
/// `reference-transaction`: hooks are off through `core.hooksPath=/dev/null`.)
const HARDENING: &[&str] = &[
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "color.ui=never",
    "submodule.recurse=false",
    "safe.bareRepository=all",
    "core.excludesFile=/dev/null",
    // No SHA-1 over the whole index on every write (about a third of `git add` on a
    // 10,000-file worktree); git 2.40+ reads such an index, older git ignores the key.
    "index.skipHash=true",
];

/// The result of a git command that could be started.
pub(crate) struct Output {
    /// Exit status, `-1` when killed by a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// One `git` invocation in a folder.
pub(crate) struct Git<'a> {
    dir: &'a Path,
    args: Vec<OsString>,
    hardened: bool,
    despite_config: bool,
    config: Vec<String>,
    identity: Option<&'a Identity>,
    input: Option<Vec<u8>>,
}

impl<'a> Git<'a> {
    pub fn new<I, S>(dir: &'a Path, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Git {
            dir,
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            hardened: true,
            despite_config: false,
            config: Vec::new(),
            identity: None,
            input: None,
        }
    }

    /// Without the hardening `-c` options, to read the repository's own configuration
    /// (`git config --get` reports command-line overrides as if they were configured).
    pub fn plain(mut self) -> Self {
        self.hardened = false;
        self
    }

    /// Run even where the repository's own configuration sets a refused key (the
    /// overrides still apply): only for commands that read refs or objects and run no
    /// program whatever is configured, such as listing a tampered mirror's refs to carry
    /// them into its rebuild.
    pub fn despite_config(mut self) -> Self {
        self.despite_config = true;
        self
    }

    /// One more `-c key=value`, after (and so overriding) the hardening.
    pub fn config(mut self, key_value: impl Into<String>) -> Self {
        self.config.push(key_value.into());
        self
    }

    /// Author and committer for commits this command makes.
    pub fn identity(mut self, identity: &'a Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Bytes written to the command's standard input.
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    fn args_text(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `git` process to start: the scrubbed environment, the identity, the hardening
    /// (after the trust check of the repository's configuration), the arguments.
    async fn command(&self) -> Result<Command, GitError> {
        let mut cmd = Command::new("git");
        cmd.current_dir(self.dir);
        for key in SCRUBBED_ENV {
            cmd.env_remove(key);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // Like the system configuration, the system attributes file is not read: what
            // is committed depends on the repository (and the user's own files) only.
            .env("GIT_ATTR_NOSYSTEM", "1")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_PAGER", "cat")
            .env("GIT_ADVICE", "0")
            .env("LC_ALL", "C");
        // Always an identity, so no command depends on the user's `user.name`.
        let fallback = Identity::default();
        let id = self.identity.unwrap_or(&fallback);
        cmd.env("GIT_AUTHOR_NAME", &id.name)
            .env("GIT_AUTHOR_EMAIL", &id.email)
            .env("GIT_COMMITTER_NAME", &id.name)
            .env("GIT_COMMITTER_EMAIL", &id.email);
        if self.hardened {
            if !self.despite_config {
                // Boxed: the check itself runs `git config` (unhardened, so no deeper).
                Box::pin(crate::trust::keys::refuse_untrusted(self.dir)).await?;
            }
            for kv in HARDENING {
                cmd.arg("-c").arg(kv);
            }
            for kv in crate::trust::keys::overrides() {
                cmd.arg("-c").arg(kv);
            }
        }
        for kv in &self.config {
            cmd.arg("-c").arg(kv);
        }
        cmd.args(&self.args)
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A git command that is dropped half-way finishes on its own rather than being
            // killed: killing it would leave lock files behind that block every later command.
            .kill_on_drop(false);
        Ok(cmd)
    }

    /// Run to completion, whatever the exit status.
    pub async fn output(self) -> Result<Output, GitError> {
        let mut cmd = self.command().await?;
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                if !self.dir.is_dir() {
                    return Err(GitError::NotARepository {
                        path: self.dir.to_owned(),
                        detail: "the folder does not exist".to_owned(),
                    });
                }
                return Err(GitError::Spawn {
                    args: self.args_text(),
                    repo: self.dir.to_owned(),
                    source,
                });
            }
        };
        let stdin = child.stdin.take();
        let input = self.input.as_deref();
        let write = async move {
            match (stdin, input) {
                (Some(mut pipe), Some(bytes)) => {
                    let written = pipe.write_all(bytes).await;
                    drop(pipe);
                    written
                }
                _ => Ok(()),
            }
        };
        let (written, waited) = tokio::join!(write, child.wait_with_output());
        let out = waited.map_err(|source| GitError::Spawn {
            args: self.args_text(),
            repo: self.dir.to_owned(),
            source,
        })?;
        let status = out.status.code().unwrap_or(-1);
        tracing::debug!(
            repo = %self.dir.display(),
            args = %self.args_text(),
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "git"
        );
        if let Err(source) = written
            && status == 0
        {
            // git succeeded without reading all its input: it did not see what we meant.
            return Err(GitError::Spawn {
                args: self.args_text(),
                repo: self.dir.to_owned(),
                source,
            });
        }
        Ok(Output {
            status,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// Run; a non-zero exit status is a [`GitError::Failed`]. Returns standard output.
    pub async fn run(self) -> Result<Vec<u8>, GitError> {
        let args = self.args_text();
        let dir = self.dir.to_owned();
        let out = self.output().await?;
        if out.status != 0 {
            return Err(failed(args, dir, &out));
        }
        Ok(out.stdout)
    }

    /// Run; standard output as text without the trailing newline.
    pub async fn text(self) -> Result<String, GitError> {
        let out = self.run().await?;
        Ok(trim_line(&out))
    }

    /// Like [`Git::output`], but with the arguments kept for an error message.
    pub async fn output_with_args(self) -> Result<(Output, String), GitError> {
        let args = self.args_text();
        Ok((self.output().await?, args))
    }
}

/// The [`GitError::Failed`] for an output.
pub(crate) fn failed(args: String, repo: impl Into<std::path::PathBuf>, out: &Output) -> GitError {
    const MAX: usize = 4000;
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.len() > MAX {
        let mut cut = MAX;
        while !stderr.is_char_boundary(cut) {
            cut -= 1;
        }
        stderr.truncate(cut);
        stderr.push_str(" …");
    }
    if stderr.is_empty() {
        stderr = "(git printed nothing on stderr)".to_owned();
    }
    GitError::Failed {
        args,
        repo: repo.into(),
        status: out.status,
        stderr,
    }
}

/// Output bytes as text, without trailing line breaks.
pub(crate) fn trim_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\n', '\r'])
        .to_owned()
}
