//! The configuration keys that make git run a program (or send the factory's fetches and
//! pushes somewhere else), written once, as data: each is either overridden on every git
//! call or, where no `-c` can reach it, refused in a repository's own configuration.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::command::Git;
use crate::error::GitError;

/// What the factory does about one key.
pub(crate) enum Guard {
    /// `-c key=value` on every hardened git call: the command line outranks every file.
    Override(&'static str),
    /// The key names a subsection (a filter driver, a remote, a URL) that no fixed `-c` can
    /// reach, or its legitimate home is the user's own configuration (their SSH command,
    /// credential helpers): a repository whose own files set it is refused.
    Refuse,
}

/// One key: `section.key`, or `section.*.key` for every subsection, or `section.*` for
/// every key of the section with or without a subsection. Sections and keys compare as git
/// compares them, without case.
pub(crate) struct CommandKey {
    pub pattern: &'static str,
    pub guard: Guard,
    /// Why the key is dangerous, as a clause: "… sets `filter.x.clean`, which {why}".
    pub why: &'static str,
}

use Guard::{Override, Refuse};

/// Every key of git's configuration (git-config(1)) that runs a program or redirects the
/// factory's transfers. Not listed, and why: `pager.*` and `core.pager` (git pipes into a
/// pager only when its output is a terminal, never here, and `GIT_PAGER=cat`);
/// `uploadpack.packObjectsHook` (git reads it from protected configuration only, never a
/// repository's); `alias.*` (the factory runs git's own commands only, which no alias can
/// shadow); the receiving side of a push (it runs in the source repository, under its
/// owner's configuration).
pub(crate) const COMMAND_KEYS: &[CommandKey] = &[
    CommandKey {
        pattern: "core.fsmonitor",
        guard: Override("false"),
        why: "names a hook git runs on every index read to list changed files",
    },
    CommandKey {
        pattern: "core.hooksPath",
        guard: Override("/dev/null"),
        why: "says where the hooks git runs around commits, checkouts and ref updates live",
    },
    CommandKey {
        pattern: "core.pager",
        guard: Override("cat"),
        why: "is the program git pipes its output into",
    },
    CommandKey {
        pattern: "core.editor",
        guard: Override("false"),
        why: "is the editor git starts for a message",
    },
    CommandKey {
        pattern: "sequence.editor",
        guard: Override("false"),
        why: "is the editor git starts for a rebase's list",
    },
    CommandKey {
        pattern: "gpg.program",
        guard: Override("false"),
        why: "is the program git signs and verifies with",
    },
    CommandKey {
        pattern: "gpg.openpgp.program",
        guard: Override("false"),
        why: "is the program git signs and verifies openpgp signatures with",
    },
    CommandKey {
        pattern: "gpg.x509.program",
        guard: Override("false"),
        why: "is the program git signs and verifies x509 signatures with",
    },
    CommandKey {
        pattern: "gpg.ssh.program",
        guard: Override("false"),
        why: "is the program git signs and verifies ssh signatures with",
    },
    CommandKey {
        pattern: "gpg.ssh.defaultKeyCommand",
        guard: Override("false"),
        why: "is a command git runs to pick an SSH signing key",
    },
    CommandKey {
        pattern: "protocol.ext.allow",
        guard: Override("never"),
        why: "lets an `ext::` URL run any command as its transport",
    },
    CommandKey {
        pattern: "core.sshCommand",
        guard: Refuse,
        why: "is the command git runs to reach an SSH remote",
    },
    CommandKey {
        pattern: "core.gitProxy",
        guard: Refuse,
        why: "is a command git runs to reach a git:// remote",
    },
    CommandKey {
        pattern: "core.askPass",
        guard: Refuse,
        why: "is a program git runs to ask for a password",
    },
    CommandKey {
        pattern: "core.alternateRefsCommand",
        guard: Refuse,
        why: "is a command git runs to list an alternate's refs",
    },
    CommandKey {
        pattern: "core.worktree",
        guard: Refuse,
        why: "points git at another working tree than the one it runs in",
    },
    CommandKey {
        pattern: "credential.*",
        guard: Refuse,
        why: "names credential helpers git runs (and hands the factory's credentials to)",
    },
    CommandKey {
        pattern: "include.path",
        guard: Refuse,
        why: "pulls in another file of configuration that these checks do not read",
    },
    CommandKey {
        pattern: "includeIf.*.path",
        guard: Refuse,
        why: "pulls in another file of configuration that these checks do not read",
    },
    CommandKey {
        pattern: "filter.*",
        guard: Refuse,
        why: "defines a filter driver whose commands git runs on file contents at add and checkout",
    },
    CommandKey {
        pattern: "diff.external",
        guard: Refuse,
        why: "is a program git runs to show differences",
    },
    CommandKey {
        pattern: "diff.*.command",
        guard: Refuse,
        why: "is a program git runs to show differences of some files",
    },
    CommandKey {
        pattern: "diff.*.textconv",
        guard: Refuse,
        why: "is a program git runs to turn some files into text",
    },
    CommandKey {
        pattern: "merge.*.driver",
        guard: Refuse,
        why: "is a program git runs to merge some files",
    },
    CommandKey {
        pattern: "difftool.*.cmd",
        guard: Refuse,
        why: "is a program git runs as a diff tool",
    },
    CommandKey {
        pattern: "mergetool.*.cmd",
        guard: Refuse,
        why: "is a program git runs as a merge tool",
    },
    CommandKey {
        pattern: "submodule.*.update",
        guard: Refuse,
        why: "may be `!command`, run on a submodule update",
    },
    CommandKey {
        pattern: "hook.*",
        guard: Refuse,
        why: "defines hooks in configuration, which `core.hooksPath` does not switch off",
    },
    CommandKey {
        pattern: "remote.*.uploadpack",
        guard: Refuse,
        why: "is the program git runs on the other side of a fetch (locally, for a path or SSH)",
    },
    CommandKey {
        pattern: "remote.*.receivepack",
        guard: Refuse,
        why: "is the program git runs on the other side of a push",
    },
    CommandKey {
        pattern: "remote.*.vcs",
        guard: Refuse,
        why: "makes git run the remote helper `git-remote-<vcs>`",
    },
    CommandKey {
        pattern: "remote.*.proxy",
        guard: Refuse,
        why: "sends a remote's traffic through a proxy",
    },
    CommandKey {
        pattern: "remote.*.pushurl",
        guard: Refuse,
        why: "sends a remote's pushes to another repository",
    },
    CommandKey {
        pattern: "url.*",
        guard: Refuse,
        why: "rewrites the URLs git fetches from and pushes to",
    },
    CommandKey {
        pattern: "http.*",
        guard: Refuse,
        why: "redirects or weakens git's HTTP transport (proxy, certificates, extra headers)",
    },
];

/// The one `remote.*` URL a mirror's configuration may hold: what it was cloned from, which
/// the factory records but never fetches from by name (see `Mirror::source`).
const ORIGIN_URL: &str = "remote.origin.url";

/// The `-c key=value` options of every [`Guard::Override`] key, in table order.
pub(crate) fn overrides() -> impl Iterator<Item = String> {
    COMMAND_KEYS.iter().filter_map(|k| match k.guard {
        Override(value) => Some(format!("{}={value}", k.pattern)),
        Refuse => None,
    })
}

/// The entry of [`COMMAND_KEYS`] that `key` (as `git config --list` prints it: section and
/// name in lower case, subsection as written) falls under, if any.
pub(crate) fn command_key(key: &str) -> Option<&'static CommandKey> {
    if key.eq_ignore_ascii_case(ORIGIN_URL) {
        return None;
    }
    let (section, rest) = key.split_once('.')?;
    let (subsection, name) = match rest.rsplit_once('.') {
        Some((sub, name)) => (Some(sub), name),
        None => (None, rest),
    };
    COMMAND_KEYS.iter().find(|k| {
        let mut parts = k.pattern.splitn(3, '.');
        let (p_section, p_second, p_third) = (parts.next(), parts.next(), parts.next());
        if !p_section.is_some_and(|s| s.eq_ignore_ascii_case(section)) {
            return false;
        }
        match (p_second, p_third, subsection) {
            // `section.*`: any key of the section.
            (Some("*"), None, _) => true,
            // `section.*.key`: that key in any subsection.
            (Some("*"), Some(p_name), Some(_)) => p_name.eq_ignore_ascii_case(name),
            // `section.sub.key`: exactly.
            (Some(p_sub), Some(p_name), Some(sub)) => {
                p_sub == sub && p_name.eq_ignore_ascii_case(name)
            }
            // `section.key`: no subsection.
            (Some(p_name), None, None) => p_name.eq_ignore_ascii_case(name),
            _ => false,
        }
    })
}

/// A file's identity and version: a write through git (a lock file renamed into place) or
/// by hand changes at least one of these.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// The refused key each configuration file holds (`None` for none), by path, as of a stamp.
type Scans = Mutex<HashMap<PathBuf, (Stamp, Option<String>)>>;

static SCANS: OnceLock<Scans> = OnceLock::new();

/// Refuse to run git in `dir` if a configuration file of the repository there (its config,
/// its `config.worktree` files, following a worktree's `.git` file and `commondir` the way
/// git does) sets a [`Guard::Refuse`] key. Each file is read by `git config` once per
/// version (see [`Stamp`]), so this costs a few `stat` calls per command.
pub(crate) async fn refuse_untrusted(dir: &Path) -> Result<(), GitError> {
    for file in config_files(dir).await {
        let Ok(meta) = tokio::fs::metadata(&file).await else {
            continue;
        };
        let stamp = Stamp::of(&meta);
        let known = SCANS
            .get_or_init(Scans::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&file)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, found)| found.clone());
        let found = match known {
            Some(found) => found,
            None => {
                let found = config_keys(&file)
                    .await?
                    .into_iter()
                    .find(|(key, _)| command_key(key).is_some_and(|k| matches!(k.guard, Refuse)))
                    .map(|(key, _)| key);
                SCANS
                    .get_or_init(Scans::default)
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(file.clone(), (stamp, found.clone()));
                found
            }
        };
        if let Some(key) = found {
            let why = command_key(&key).map_or("", |k| k.why);
            return Err(GitError::Untrusted {
                repo: dir.to_owned(),
                file,
                key,
                why: why.to_owned(),
            });
        }
    }
    Ok(())
}

/// The `(key, value)` pairs of one configuration file, as git reads it (includes not
/// followed: an `include.path` is itself a key).
pub(crate) async fn config_keys(file: &Path) -> Result<Vec<(String, String)>, GitError> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    let args: [&std::ffi::OsStr; 5] = [
        "config".as_ref(),
        "--file".as_ref(),
        file.as_os_str(),
        "--list".as_ref(),
        "-z".as_ref(),
    ];
    let out = Git::new(dir, args).plain().output().await?;
    if out.status != 0 {
        // A file git cannot parse is one git refuses to run with as well; a file that is
        // gone has nothing in it.
        if !file.exists() {
            return Ok(Vec::new());
        }
        return Err(crate::command::failed(
            format!("config --file {} --list -z", file.display()),
            dir,
            &out,
        ));
    }
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let text = String::from_utf8_lossy(entry);
            match text.split_once('\n') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (text.into_owned(), String::new()),
            }
        })
        .collect())
}

/// The configuration files git reads for a command run in `dir`, besides the user's own:
/// the common directory's `config` and `config.worktree`, and a worktree's own
/// `config.worktree`. Empty where `dir` is no repository.
pub(crate) async fn config_files(dir: &Path) -> Vec<PathBuf> {
    let Some(git_dir) = git_dir(dir).await else {
        return Vec::new();
    };
    let common = match tokio::fs::read_to_string(git_dir.join("commondir")).await {
        Ok(text) => lexical(&git_dir.join(text.trim_end_matches(['\n', '\r']))),
        Err(_) => git_dir.clone(),
    };
    let mut files = vec![common.join("config"), common.join("config.worktree")];
    if common != git_dir {
        files.push(git_dir.join("config.worktree"));
    }
    files
}

/// The git directory of a command run in `dir`: a `.git` folder, the folder a `.git` file
/// names, or `dir` itself when it is a bare repository.
async fn git_dir(dir: &Path) -> Option<PathBuf> {
    let dotgit = dir.join(".git");
    match tokio::fs::metadata(&dotgit).await {
        Ok(meta) if meta.is_dir() => Some(dotgit),
        Ok(_) => {
            let text = tokio::fs::read_to_string(&dotgit).await.ok()?;
            let named = text
                .trim_end_matches(['\n', '\r'])
                .strip_prefix("gitdir: ")?;
            Some(lexical(&dir.join(named)))
        }
        Err(_) => {
            let bare = tokio::fs::try_exists(dir.join("HEAD"))
                .await
                .unwrap_or(false)
                && tokio::fs::try_exists(dir.join("objects"))
                    .await
                    .unwrap_or(false);
            bare.then(|| dir.to_owned())
        }
    }
}

/// `path` with its `.` and `..` components resolved as text (`a/b/../c` is `a/c`), as
/// git resolves a worktree's `commondir`.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_as_git_names_them() {
        let refused = |key: &str| command_key(key).map(|k| k.pattern);
        assert_eq!(refused("filter.lfs.clean"), Some("filter.*"));
        assert_eq!(
            refused("remote.origin.uploadpack"),
            Some("remote.*.uploadpack")
        );
        assert_eq!(refused("remote.a.b.pushurl"), Some("remote.*.pushurl"));
        assert_eq!(
            refused("includeif.gitdir:/x/.path"),
            Some("includeIf.*.path")
        );
        assert_eq!(refused("include.path"), Some("include.path"));
        assert_eq!(refused("core.sshcommand"), Some("core.sshCommand"));
        assert_eq!(refused("url.https://evil/.pushinsteadof"), Some("url.*"));
        assert_eq!(refused("gpg.ssh.program"), Some("gpg.ssh.program"));
        assert_eq!(
            refused("gpg.ssh.defaultkeycommand"),
            Some("gpg.ssh.defaultKeyCommand")
        );
        assert_eq!(refused("remote.origin.url"), None);
        assert_eq!(refused("remote.origin.fetch"), None);
        assert_eq!(refused("user.name"), None);
        assert_eq!(refused("diff.external"), Some("diff.external"));
        assert_eq!(refused("diff.renames"), None);
    }

    #[test]
    fn every_override_is_a_key_value() {
        let all: Vec<String> = overrides().collect();
        assert!(all.contains(&"core.fsmonitor=false".to_owned()), "{all:?}");
        assert!(
            all.contains(&"gpg.openpgp.program=false".to_owned()),
            "{all:?}"
        );
        assert!(
            all.contains(&"gpg.ssh.defaultKeyCommand=false".to_owned()),
            "{all:?}"
        );
        assert!(all.iter().all(|kv| !kv.contains('*')), "{all:?}");
    }
}
