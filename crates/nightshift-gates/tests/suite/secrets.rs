//! The `secrets` gate: credential shapes in a change's added lines, never copied whole.

use globset::GlobSet;
use nightshift_gates::FileChange;
use nightshift_gates::secrets::{Rules, RulesError, check};

use super::{assert_fails, assert_passes, change};

const KEY: &str = "AKIAZ3MRNDA6EXPLQ7VB";

fn none() -> GlobSet {
    GlobSet::empty()
}

#[test]
fn an_added_aws_key_is_a_defect_and_the_evidence_masks_it() {
    let c = change(vec![FileChange::modified(
        "app/settings.py",
        "DEBUG = False\n",
        format!("DEBUG = False\nAWS_ACCESS_KEY_ID = \"{KEY}\"\n"),
    )]);
    let r = check(Rules::builtin(), &c, &none());
    assert_fails(
        &r,
        "the change adds 1 credential-shaped string (aws-access-token at app/settings.py:2): take it out and read the secret from the environment or a secret store at run time",
    );
    assert_eq!(
        r.excerpt,
        "app/settings.py:2: aws-access-token (an AWS access key id): AKIA…[20 characters redacted]"
    );
    assert!(!r.excerpt.contains(KEY) && !r.detail.contains(KEY));
}

#[test]
fn a_private_key_and_a_github_token_in_a_new_file_are_both_named() {
    let token = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
    let c = change(vec![FileChange::added(
        "deploy/id_rsa",
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\ntoken={token}\n"
        ),
    )]);
    let r = check(Rules::builtin(), &c, &none());
    assert_fails(
        &r,
        "the change adds 2 credential-shaped strings (private-key at deploy/id_rsa:1, github-pat at deploy/id_rsa:4): take them out and read the secret from the environment or a secret store at run time",
    );
    assert!(!r.excerpt.contains(&token), "{}", r.excerpt);
}

#[test]
fn a_key_already_in_the_file_or_under_an_allowed_path_passes() {
    let before = format!("AWS = \"{KEY}\"\n");
    let c = change(vec![FileChange::modified(
        "conf.py",
        before.clone(),
        format!("{before}DEBUG = True\n"),
    )]);
    assert_passes(
        &check(Rules::builtin(), &c, &none()),
        "no credential-shaped string added (16 rules checked)",
    );
    let fixtures = change(vec![FileChange::added(
        "tests/fixtures/keys.txt",
        format!("{KEY}\n"),
    )]);
    let mut allow = globset::GlobSetBuilder::new();
    allow.add(globset::Glob::new("tests/fixtures/**").unwrap());
    assert!(check(Rules::builtin(), &fixtures, &allow.build().unwrap()).passed);
    assert!(!check(Rules::builtin(), &fixtures, &none()).passed);
}

#[test]
fn low_entropy_placeholders_pass() {
    let c = change(vec![FileChange::added(
        "README.md",
        "Set AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX in your shell.\n",
    )]);
    assert!(check(Rules::builtin(), &c, &none()).passed);
}

#[test]
fn a_teams_own_gitleaks_rules_add_to_the_shipped_ones() {
    let rules = Rules::with_file(
        "acme.toml",
        "[[rules]]\nid = \"acme-key\"\ndescription = \"an Acme API key\"\nregex = '''acme_[0-9a-f]{16}'''\nkeywords = [\"acme_\"]\n",
    )
    .unwrap();
    assert_eq!(rules.len(), 17);
    let c = change(vec![FileChange::added(
        "x.env",
        "KEY=acme_0123456789abcdef\n",
    )]);
    let r = check(&rules, &c, &none());
    assert!(!r.passed);
    assert_eq!(
        r.excerpt,
        "x.env:1: acme-key (an Acme API key): acme…[21 characters redacted]"
    );

    let bad = Rules::with_file(
        "bad.toml",
        "[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n",
    )
    .unwrap_err();
    assert!(
        matches!(bad, RulesError::Regex { ref id, .. } if id == "x"),
        "{bad}"
    );
    assert!(
        bad.to_string()
            .starts_with("bad.toml: rule `x` has a regex that does not compile")
    );
    let bad = Rules::with_file("bad.toml", "rules = 3").unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("bad.toml: not a gitleaks rule file"),
        "{bad}"
    );
}

#[test]
fn redaction_masks_every_secret_and_keeps_the_rest() {
    let text = format!("+let key = \"{KEY}\";\n unchanged line\n");
    assert_eq!(
        Rules::builtin().redact(&text),
        "+let key = \"AKIA…[20 characters redacted]\";\n unchanged line\n"
    );
}
