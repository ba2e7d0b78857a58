//! The in-process staging against git's own `add` + `write-tree`, and each case left to git.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use nightshift_testkit::git;

use super::{ancestors, stage_and_write_tree};

/// Makes one case of a repository the in-process path must leave alone.
type SetUp = fn(&Path);

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A committed repository whose names test the tree order (`src-x`, `src.txt`, `src/`,
/// `src0`), with an executable file, a symbolic link and a valid cache tree.
fn repo(dir: &Path) -> PathBuf {
    let root = dir.join("r");
    std::fs::create_dir_all(&root).expect("mkdir");
    git(&root, &["init", "-q", "-b", "main"]);
    for (rel, text) in [
        ("README.md", "hello\n"),
        ("src/lib.rs", "pub fn a() {}\n"),
        ("src/deep/a.rs", "a\n"),
        ("src/deep/b.rs", "b\n"),
        ("src-x/y.txt", "y\n"),
        ("src.txt", "dot\n"),
        ("src0.txt", "zero\n"),
        ("tests/t.rs", "t\n"),
        ("run.sh", "#!/bin/sh\n"),
    ] {
        write(&root, rel, text);
    }
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("README.md", root.join("link")).expect("symlink");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "one"]);
    git(&root, &["write-tree"]);
    root
}

fn stage(root: &Path, paths: &[&str]) -> Option<String> {
    let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    stage_and_write_tree(root, &root.join(".git/index"), &root.join(".git"), &paths)
}

#[test]
fn ancestors_from_the_root_down() {
    assert_eq!(ancestors("x"), [""]);
    assert_eq!(ancestors("a/b/c.rs"), ["", "a", "a/b"]);
}

#[test]
fn staged_in_process_as_git_add_and_write_tree_would() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = repo(tmp.path());
    let twin = tmp.path().join("twin");
    let copied = Command::new("cp").arg("-a").arg(&root).arg(&twin).status();
    assert!(copied.expect("cp").success());
    let changed = ["src/deep/a.rs", "src.txt", "run.sh", "README.md"];
    for dir in [&root, &twin] {
        write(dir, "src/deep/a.rs", "a changed\n");
        write(dir, "src.txt", "dot changed\n");
        write(dir, "run.sh", "#!/bin/sh\nexit 0\n");
    }
    let ours = stage(&root, &changed).expect("the plain case is staged in-process");

    // git's own answer, on the copy: stage by name, write the tree.
    let mut add = vec!["add", "--"];
    add.extend(changed);
    git(&twin, &add);
    assert_eq!(ours, git(&twin, &["write-tree"]));

    // The index is in step: it holds the tree, matches the files by their stat data,
    // and git reads it and the new objects without complaint.
    assert_eq!(
        git(&root, &["diff-index", "--cached", "--name-only", &ours]),
        ""
    );
    assert_eq!(git(&root, &["diff-files", "--name-only"]), "");
    assert_eq!(
        git(&root, &["status", "--porcelain"]),
        "M  run.sh\nM  src.txt\nM  src/deep/a.rs",
        "staged, and the unchanged README.md not listed"
    );
    let debug = git(&root, &["ls-files", "--debug", "src/deep/a.rs"]);
    let meta = std::fs::metadata(root.join("src/deep/a.rs")).expect("stat");
    use std::os::unix::fs::MetadataExt as _;
    assert!(
        debug.contains(&format!("mtime: {}:{}", meta.mtime(), meta.mtime_nsec()))
            && debug.contains(&format!("ino: {}", meta.ino()))
            && debug.contains(&format!("size: {}", meta.size())),
        "stat data as git records it: {debug}"
    );
    git(&root, &["commit", "-q", "-m", "two"]);
    assert_eq!(git(&root, &["rev-parse", "HEAD^{tree}"]), ours);
    git(&root, &["fsck", "--strict", "--no-dangling"]);

    // Nothing named: the tree the index holds, and nothing written.
    let index = std::fs::read(root.join(".git/index")).expect("index");
    assert_eq!(stage(&root, &[]), Some(ours));
    assert_eq!(
        std::fs::read(root.join(".git/index")).expect("index"),
        index
    );
}

#[test]
fn anything_but_the_plain_case_is_left_to_git() {
    let cases: [(&str, SetUp); 10] = [
        ("attributes", |r| {
            write(r, ".gitattributes", "*.rs text eol=crlf\n")
        }),
        ("attributes in a folder on the path", |r| {
            write(r, "src/.gitattributes", "*.rs filter=x\n")
        }),
        ("configuration", |r| {
            git(r, &["config", "core.autocrlf", "true"]);
        }),
        ("a new file", |r| write(r, "src/deep/new.rs", "new\n")),
        ("an executable bit set", |r| {
            std::fs::set_permissions(
                r.join("src/deep/a.rs"),
                std::fs::Permissions::from_mode(0o755),
            )
            .expect("chmod")
        }),
        ("an invalid cache tree", |r| {
            write(r, "src/lib.rs", "pub fn b() {}\n");
            git(r, &["add", "src/lib.rs"]);
        }),
        ("index version 4", |r| {
            git(r, &["update-index", "--index-version", "4"]);
        }),
        ("a folder on the path replaced by a symbolic link", |r| {
            std::fs::rename(r.join("src/deep"), r.join("elsewhere")).expect("move");
            std::os::unix::fs::symlink("../elsewhere", r.join("src/deep")).expect("symlink");
        }),
        ("attributes from a tree (attr.tree)", |r| {
            git(r, &["config", "attr.tree", "HEAD"]);
        }),
        ("an untracked cache", |r| {
            git(r, &["update-index", "--untracked-cache"]);
            git(r, &["status", "--porcelain"]);
        }),
    ];
    for (what, set_up) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = repo(tmp.path());
        write(&root, "src/deep/a.rs", "a changed\n");
        set_up(&root);
        let index = std::fs::read(root.join(".git/index")).expect("index");
        let named = if what == "a new file" {
            vec!["src/deep/a.rs", "src/deep/new.rs"]
        } else {
            vec!["src/deep/a.rs"]
        };
        assert_eq!(stage(&root, &named), None, "{what}");
        assert_eq!(
            std::fs::read(root.join(".git/index")).expect("index"),
            index,
            "{what}: the index is untouched"
        );
        assert!(
            !root.join(".git/index.lock").exists(),
            "{what}: no lock left behind"
        );
    }
    // Another writer holds the index: left to git (which then says so), and its lock stays.
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = repo(tmp.path());
    write(&root, "src/deep/a.rs", "a changed\n");
    std::fs::write(root.join(".git/index.lock"), b"").expect("lock");
    assert_eq!(stage(&root, &["src/deep/a.rs"]), None);
    assert!(
        root.join(".git/index.lock").exists(),
        "another's lock is kept"
    );
    // A symbolic link is not a file to stage by its bytes.
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = repo(tmp.path());
    assert_eq!(stage(&root, &["link"]), None);
}

/// A file changed behind the index in the second the index was written keeps looking
/// changed after the index is rewritten later (git's racy-clean rule), though its stat data
/// is otherwise the same.
#[test]
fn a_file_changed_in_the_index_second_is_not_taken_as_clean() {
    use std::os::unix::fs::MetadataExt as _;
    for _ in 0..5 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = repo(tmp.path());
        let index_second = std::fs::metadata(root.join(".git/index"))
            .expect("index")
            .mtime();
        let lib = root.join("src/lib.rs");
        let before = std::fs::metadata(&lib).expect("stat");
        // Same size, and the old modification time put back.
        std::fs::write(&lib, "pub fn b() {}\n").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&lib)
            .and_then(|f| f.set_modified(before.modified()?))
            .expect("set mtime");
        let after = std::fs::metadata(&lib).expect("stat");
        if before.mtime() != index_second || after.ctime() != index_second {
            continue; // the set-up straddled a second; again
        }
        while std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            <= index_second
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        write(&root, "README.md", "hello again\n");
        assert!(stage(&root, &["README.md"]).is_some());
        assert_eq!(
            git(&root, &["status", "--porcelain"]),
            "M  README.md\n M src/lib.rs"
        );
        return;
    }
    panic!("five set-ups in a row straddled a second");
}
