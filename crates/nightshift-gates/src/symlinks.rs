//! The `symlinks` gate: a symbolic link the change adds or modifies must point inside the
//! repository.
//!
//! A link to `/root/.ssh` or `../../outside` committed into a change set would be landed
//! in the user's repository, and followed by whatever later reads the checkout (a build,
//! a test, the factory's own tools). The target is resolved as text from the link's
//! folder, the way the path reads: an absolute target, or one whose `..` climb above the
//! repository's root, is a defect. Links inside the repository pass. The gate is always
//! on: no policy has a use for a link out of the repository it lands in.

use crate::change::{Change, ChangeStatus, FileChange};
use crate::policy::normalize;
use crate::result::GateResult;

/// The gate's name in [`crate::GATE_NAMES`].
pub(crate) const GATE: &str = "symlinks";

/// How a link's target leaves the repository.
#[derive(Debug, PartialEq, Eq)]
enum Escape {
    Absolute,
    Outside,
}

/// Whether the link at `path` (relative to the repository root) pointing to `target`
/// leads out of the repository, resolved as text from the link's folder.
fn leaves(path: &str, target: &str) -> Option<Escape> {
    if target.starts_with('/') {
        return Some(Escape::Absolute);
    }
    // How many folders below the root the walk is: it starts in the link's folder.
    let mut depth: usize = normalize(path)
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .count()
        .saturating_sub(1);
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => return Some(Escape::Outside),
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    None
}

/// The links of `change` that are added or modified, with their targets.
fn links(change: &Change) -> impl Iterator<Item = (&FileChange, &str)> {
    change
        .files
        .iter()
        .filter(|f| !matches!(f.status, ChangeStatus::Deleted))
        .filter_map(|f| f.link_target.as_deref().map(|t| (f, t)))
}

pub(crate) fn symlinks(change: &Change) -> GateResult {
    let mut findings = Vec::new();
    let mut excerpt = String::new();
    let mut checked = 0;
    for (file, target) in links(change) {
        checked += 1;
        let Some(how) = leaves(&file.path, target) else {
            continue;
        };
        findings.push(match how {
            Escape::Absolute => format!(
                "{} symbolic link `{}` points to the absolute path `{target}`",
                file.verb(),
                file.path
            ),
            Escape::Outside => format!(
                "{} symbolic link `{}` points to `{target}`, outside the repository",
                file.verb(),
                file.path
            ),
        });
        excerpt.push_str(&format!("{} {} -> {target}\n", file.letter(), file.path));
    }
    if findings.is_empty() {
        let detail = match checked {
            0 => "no symbolic links added or changed".to_owned(),
            1 => "1 symbolic link added or changed, pointing inside the repository".to_owned(),
            n => format!("{n} symbolic links added or changed, all pointing inside the repository"),
        };
        return GateResult::policy(GATE, true, detail, String::new());
    }
    GateResult::policy(GATE, false, findings.join("; "), excerpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_from_the_links_folder() {
        assert_eq!(leaves("keys", "/root/.ssh"), Some(Escape::Absolute));
        // `a/b/../../outside` is `outside` at the root.
        assert_eq!(leaves("a/b/up", "../../outside"), None);
        assert_eq!(leaves("a/up", "../../outside"), Some(Escape::Outside));
        assert_eq!(leaves("up", ".."), Some(Escape::Outside));
        assert_eq!(leaves("docs/b.md", "a.md"), None);
        assert_eq!(leaves("docs/b.md", "../README.md"), None);
        assert_eq!(leaves("docs/b.md", "./../../x"), Some(Escape::Outside));
        assert_eq!(leaves("a/b", "c/../../../x"), Some(Escape::Outside));
        assert_eq!(leaves("./a/b", "../x"), None);
    }
}
