//! The policy itself and the gates `non-empty-change`, `protected-paths`, `diff-size`.

use nightshift_gates::policy::{DEFAULT_PROTECTED_PATHS, DEFAULT_TEST_GLOBS};
use nightshift_gates::{Change, FileChange, GATE_NAMES, Policy, PolicyError, check};

use super::{assert_fails, assert_passes, change, gate, gate_with};

#[test]
fn defaults() {
    let p = Policy::default();
    assert!(p.require_change && p.protect_tests && p.forbid_hook_bypass);
    assert!(!p.allow_test_changes);
    assert_eq!(p.max_changed_lines, Some(2000));
    assert_eq!(
        p.protected_paths,
        [".github/**", ".nightshift/**", ".git/**"]
    );
    assert_eq!(p.protected_paths, DEFAULT_PROTECTED_PATHS);
    assert_eq!(p.test_globs, DEFAULT_TEST_GLOBS);
    p.validate().unwrap();
}

#[test]
fn parses_from_toml_with_defaults_and_refuses_unknown_keys() {
    let p: Policy = toml::from_str("").unwrap();
    assert_eq!(p, Policy::default());
    let p: Policy =
        toml::from_str("max_changed_lines = 50\nprotected_paths = [\"Cargo.lock\"]").unwrap();
    assert_eq!(p.max_changed_lines, Some(50));
    assert_eq!(p.protected_paths, ["Cargo.lock"]);
    assert!(p.protect_tests);
    let p: Policy = toml::from_str("allow_test_changes = true").unwrap();
    assert_eq!(
        p,
        Policy {
            allow_test_changes: true,
            ..Policy::default()
        }
    );
    let err = toml::from_str::<Policy>("protect_test = false").unwrap_err();
    assert!(
        err.to_string().contains("unknown field `protect_test`"),
        "{err}"
    );
}

#[test]
fn a_clean_change_passes_every_gate_in_order() {
    let c = change(vec![FileChange::modified(
        "src/lib.rs",
        "fn a() {}\n",
        "fn a() { b() }\n",
    )]);
    let results = check(&Policy::default(), &c).unwrap();
    let names: Vec<_> = results.iter().map(|r| r.gate.as_str()).collect();
    assert_eq!(names, GATE_NAMES);
    for r in &results {
        assert!(r.passed, "{r:#?}");
        assert_eq!((r.exit_code, r.timed_out), (None, false));
        assert!(r.excerpt.is_empty());
    }
    assert_eq!(results[0].detail, "1 file changed (+10/-2 lines)");
}

#[test]
fn an_empty_change_fails_unless_allowed() {
    let c = Change::default();
    assert_fails(
        &gate(&c, "non-empty-change"),
        "the iteration changed no files",
    );
    let p = Policy {
        require_change: false,
        ..Policy::default()
    };
    assert_passes(
        &gate_with(&p, &c, "non-empty-change"),
        "no files changed; the policy allows an empty change",
    );
}

#[test]
fn protected_paths_fail_with_the_glob_named() {
    let c = change(vec![
        FileChange::modified("src/lib.rs", "a", "b"),
        FileChange::modified(".github/workflows/ci.yml", "on: push\n", "on: never\n"),
    ]);
    let r = gate(&c, "protected-paths");
    assert_fails(
        &r,
        "modified `.github/workflows/ci.yml` (protected by `.github/**`)",
    );
    assert_eq!(r.excerpt, "M .github/workflows/ci.yml  (.github/**)\n");
}

#[test]
fn a_rename_out_of_a_protected_path_fails() {
    let c = change(vec![FileChange::renamed(
        ".nightshift/progress.md",
        "notes.md",
        "x",
        "x",
    )]);
    let r = gate(&c, "protected-paths");
    assert_fails(
        &r,
        "renamed `.nightshift/progress.md` (protected by `.nightshift/**`) to `notes.md`",
    );
}

#[test]
fn added_and_deleted_protected_files_fail_and_custom_globs_apply() {
    let p = Policy {
        protected_paths: vec!["Cargo.lock".into(), "migrations/*.sql".into()],
        ..Policy::default()
    };
    let c = change(vec![
        FileChange::added("migrations/0002.sql", "drop table x;"),
        FileChange::deleted("Cargo.lock", "# lock"),
        FileChange::modified(".github/workflows/ci.yml", "a", "b"),
        FileChange::added("migrations/old/0001.sql", "x"),
    ]);
    assert_fails(
        &gate_with(&p, &c, "protected-paths"),
        "added `migrations/0002.sql` (protected by `migrations/*.sql`); deleted `Cargo.lock` (protected by `Cargo.lock`)",
    );
}

#[test]
fn untouched_protected_paths_pass() {
    let c = change(vec![FileChange::modified("docs/github.md", "a", "b")]);
    assert_passes(&gate(&c, "protected-paths"), "no protected paths touched");
}

#[test]
fn diff_size_limits_insertions_plus_deletions() {
    let mut c = change(vec![FileChange::modified("src/lib.rs", "a", "b")]);
    c.insertions = 1500;
    c.deletions = 600;
    let r = gate(&c, "diff-size");
    assert_fails(
        &r,
        "the change has 2100 changed lines (+1500/-600), over the limit of 2000; split the work into smaller iterations",
    );
    assert_eq!(r.excerpt, "M src/lib.rs\n");
    c.deletions = 500;
    assert_passes(
        &gate(&c, "diff-size"),
        "2000 changed lines (+1500/-500), within the limit of 2000",
    );
    let p = Policy {
        max_changed_lines: None,
        ..Policy::default()
    };
    c.insertions = 1_000_000;
    assert_passes(
        &gate_with(&p, &c, "diff-size"),
        "1000500 changed lines (+1000000/-500); no limit set",
    );
}

#[test]
fn an_invalid_glob_is_named() {
    let p = Policy {
        test_globs: vec!["**/*_test.go".into(), "src/[unclosed".into()],
        ..Policy::default()
    };
    let err = check(&p, &Change::default()).unwrap_err();
    let PolicyError::InvalidGlob { field, glob, .. } = &err;
    assert_eq!((*field, glob.as_str()), ("test_globs", "src/[unclosed"));
    assert!(
        err.to_string()
            .starts_with("invalid glob `src/[unclosed` in `test_globs`: "),
        "{err}"
    );
    assert!(p.validate().is_err());

    let p = Policy {
        protected_paths: vec!["a/{b".into()],
        ..Policy::default()
    };
    let err = p.validate().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid glob `a/{b` in `protected_paths`: "),
        "{err}"
    );
}

#[test]
fn results_serialize_for_the_store() {
    let c = Change::default();
    let r = gate(&c, "non-empty-change");
    let text = toml::to_string(&r).unwrap();
    let back: nightshift_gates::GateResult = toml::from_str(&text).unwrap();
    assert_eq!(back, r);
    // A result flagged for review keeps its reason; one that is not writes no `review` key.
    assert!(!text.contains("review"), "{text}");
    let flagged = nightshift_gates::GateResult {
        review: Some("a person should look".into()),
        ..r
    };
    let text = toml::to_string(&flagged).unwrap();
    let back: nightshift_gates::GateResult = toml::from_str(&text).unwrap();
    assert_eq!(back, flagged);
}
