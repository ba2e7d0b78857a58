//! The factory's ref names: sanitizing, formats, and git's own verdict on them.

use nightshift_git::{iteration_prefix, iteration_ref, job_branch, sanitize_ref_component};

use super::git;

#[test]
fn sanitize_replaces_what_git_refuses() {
    let cases = [
        ("plain-name_1.2", "plain-name_1.2"),
        ("with space", "with-space"),
        ("a..b", "a-b"),
        ("a...b", "a-.b"),
        ("t~i^l:d?e*[x\\", "t-i-l-d-e--x-"),
        ("org/repo", "org-repo"),
        (".hidden", "-hidden"),
        ("-dash", "-dash"),
        ("x.lock", "x-lock"),
        ("x.", "x-"),
        ("x/", "x-"),
        ("..", "-"),
        ("@", "-"),
        ("a@{1}", "a-{1}"),
        ("tab\there", "tab-here"),
        ("", "-"),
        ("ünïcode", "ünïcode"),
    ];
    for (input, want) in cases {
        let got = sanitize_ref_component(input);
        assert_eq!(got, want, "sanitize({input:?})");
        assert_eq!(sanitize_ref_component(&got), got, "idempotent on {input:?}");
    }
}

#[test]
fn names_have_the_factorys_shape() {
    assert_eq!(
        iteration_ref("night 1", "svc/api", 7),
        "refs/nightshift/night-1/svc-api/7"
    );
    assert_eq!(iteration_prefix("s", "j"), "refs/nightshift/s/j");
    assert_eq!(job_branch("s", "j.lock"), "nightshift/s/j-lock");
}

#[test]
fn git_accepts_every_sanitized_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let nasty = [
        "with space",
        "a..b",
        "~^:?*[\\",
        ".x",
        "x.lock",
        "x.",
        "@",
        "a@{b",
        "\u{7f}",
        "",
        "-x",
        "...",
        "/",
        "a/b/",
        "..lock",
        ".lock",
    ];
    for name in nasty {
        let r = iteration_ref(name, name, 1);
        git(tmp.path(), &["check-ref-format", &r]);
        let b = job_branch(name, name);
        git(tmp.path(), &["check-ref-format", "--branch", &b]);
    }
}
