//! [`init_repo`]: a normal repository with files committed on `main`, for tests and fixtures.

use std::path::{Component, Path};

use crate::command::{Git, Identity};
use crate::error::GitError;

/// Create a normal (non-bare) repository at `path` with `files` (relative path, content)
/// committed on `main` by `nightshift <nightshift@localhost>`. Returns the commit's sha.
pub async fn init_repo(path: &Path, files: &[(&str, &str)]) -> Result<String, GitError> {
    for (rel, _) in files {
        let rel_path = Path::new(rel);
        let plain = !rel.is_empty()
            && rel_path
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(GitError::InvalidArgument {
                what: format!(
                    "fixture file {rel:?} for {} must be a relative path without `..`",
                    path.display()
                ),
            });
        }
    }
    tokio::fs::create_dir_all(path)
        .await
        .map_err(|e| GitError::io("create the repository folder", path, e))?;
    Git::new(path, ["init", "--quiet", "--initial-branch=main"])
        .run()
        .await?;
    for (rel, content) in files {
        let file = path.join(rel);
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| GitError::io("create the folder", parent, e))?;
        }
        tokio::fs::write(&file, content)
            .await
            .map_err(|e| GitError::io("write the fixture file", &file, e))?;
    }
    Git::new(path, ["add", "--all"]).run().await?;
    let identity = Identity::default();
    Git::new(
        path,
        [
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "--no-gpg-sign",
            "--message=initial commit",
        ],
    )
    .identity(&identity)
    .run()
    .await?;
    Git::new(path, ["rev-parse", "--verify", "HEAD"])
        .text()
        .await
}
