//! What an iteration starts from: the repository map and the guidance, both bounded.

use std::path::Path;

use nightshift_agent::{guidance, repo_map, system_prompt};

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

#[test]
fn repo_map_shows_a_small_tree_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for path in [
        "Cargo.toml",
        "src/main.rs",
        "src/cli/args.rs",
        "src/cli/mod.rs",
        "tests/it.rs",
        "target/debug/huge.bin",
        ".git/HEAD",
    ] {
        write(root, path, "x\n");
    }
    write(root, ".gitignore", "/target\n");
    assert_eq!(
        repo_map(root, 100),
        "6 files (directories show how many files they hold)\n\
         src/ (3 files)\n  cli/ (2 files)\n    args.rs\n    mod.rs\n  main.rs\n\
         tests/ (1 file)\n  it.rs\n\
         .gitignore\nCargo.toml"
    );
}

#[test]
fn repo_map_collapses_deep_trees_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for a in 0..8 {
        for b in 0..8 {
            for f in 0..5 {
                write(root, &format!("pkg{a}/mod{b}/file{f}.py"), "");
            }
        }
    }
    write(root, "README.md", "");
    let map = repo_map(root, 20);
    // Only the top level fits: each package collapsed with its count.
    let mut expected = String::from("321 files (directories show how many files they hold)\n");
    for a in 0..8 {
        expected.push_str(&format!("pkg{a}/ (40 files)\n"));
    }
    expected.push_str("README.md");
    assert_eq!(map, expected);

    let map = repo_map(root, 80);
    assert_eq!(map.lines().count(), 1 + 8 + 8 * 8 + 1);
    assert!(
        map.contains("\npkg3/ (40 files)\n  mod0/ (5 files)\n  mod1/ (5 files)\n"),
        "{map}"
    );
    assert!(!map.contains("file0.py"));
}

#[test]
fn repo_map_is_bounded_even_when_the_top_level_is_wide() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..500 {
        write(root, &format!("d{i:03}/f.txt"), "");
    }
    for max in [0, 1, 10, 50] {
        let map = repo_map(root, max);
        assert!(map.lines().count() <= max + 2, "{max}: {map}");
        assert!(map.starts_with("500 files"));
    }
    let map = repo_map(root, 10);
    assert!(
        map.ends_with("d009/ (1 file)\n… more entries not shown; use list_files"),
        "{map}"
    );
}

#[test]
fn repo_map_caps_files_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        write(dir.path(), &format!("f{i:02}.txt"), "");
    }
    let map = repo_map(dir.path(), 100);
    assert_eq!(map.lines().count(), 1 + 25 + 1);
    assert!(map.ends_with("f24.txt\n… 15 more files"), "{map}");
}

#[test]
fn guidance_concatenates_the_files_that_exist_with_headers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert_eq!(guidance(root, 10_000), "");
    write(root, "AGENTS.md", "Use tabs.\n");
    write(root, "CONTRIBUTING.md", "\nSign your commits.\n\n");
    write(root, ".github/copilot-instructions.md", "Prefer small PRs.");
    std::os::unix::fs::symlink("AGENTS.md", root.join("CLAUDE.md")).unwrap();
    assert_eq!(
        guidance(root, 10_000),
        "### AGENTS.md\n\nUse tabs.\n\n\
         ### CONTRIBUTING.md\n\nSign your commits.\n\n\
         ### .github/copilot-instructions.md\n\nPrefer small PRs."
    );
}

#[test]
fn guidance_is_truncated_to_its_bound_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "AGENTS.md", &"rule\n".repeat(100_000));
    write(dir.path(), "CLAUDE.md", "never shown");
    let tiny = guidance(dir.path(), 60);
    assert_eq!(
        tiny,
        "### AGENTS\n[guidance truncated; read the files for the rest]"
    );
    for max in [1000, 4096] {
        let text = guidance(dir.path(), max);
        assert!(text.len() <= max, "{max}: {}", text.len());
        assert!(text.starts_with("### AGENTS.md\n\nrule\n"));
        assert!(
            text.ends_with("\n[guidance truncated; read the files for the rest]"),
            "{text}"
        );
    }
    assert!(guidance(dir.path(), 10).len() <= 10);
}

#[test]
fn guidance_ignores_files_outside_the_worktree() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("w");
    std::fs::create_dir(&root).unwrap();
    write(parent.path(), "evil.md", "outside");
    std::os::unix::fs::symlink(parent.path().join("evil.md"), root.join("AGENTS.md")).unwrap();
    assert_eq!(guidance(&root, 1000), "");
}

#[test]
fn the_system_prompt_explains_the_loop() {
    let p = system_prompt();
    for needle in ["finish", "done", "notes", "edit_file", "run", "fresh"] {
        assert!(p.contains(needle), "{needle}");
    }
}
