//! `[landing]` and `[[forge]]`: a pull request's settings parsed with their defaults, and
//! every mistake named at its key with what to write instead.

use nightshift_spec::{ForgeApi, LandingMode};

use super::{Fleet, MINIMAL};

const PULLS: &str = r#"
[landing]
mode = "pull_request"
target = "release"
draft = true
labels = ["nightshift", "chore"]
ci_fix_iterations = 3
review_fix_iterations = 1
conflict_fix_iterations = 0
ci_timeout_minutes = 0.5
ci_poll_secs = 0.25
checks_grace_secs = 10
max_open_pull_requests = 5
pull_requests_per_hour = 12
"#;

#[test]
fn a_pull_request_landing_parses_with_every_key() {
    let f = Fleet::new();
    let spec = f.parse(&format!("{MINIMAL}{PULLS}")).expect("parses");
    let l = &spec.landing;
    assert_eq!(l.mode, LandingMode::PullRequest);
    assert!(l.mode.uses_forge());
    assert_eq!(l.target.as_deref(), Some("release"));
    assert!(l.draft);
    assert_eq!(l.labels, ["nightshift", "chore"]);
    assert_eq!(
        (
            l.ci_fix_iterations,
            l.review_fix_iterations,
            l.conflict_fix_iterations
        ),
        (3, 1, 0)
    );
    assert_eq!(
        (l.ci_timeout_ms, l.ci_poll_ms, l.checks_grace_ms),
        (30_000, 250, 10_000)
    );
    assert_eq!(
        (l.max_open_pull_requests, l.pull_requests_per_hour),
        (Some(5), Some(12))
    );
    // The branch template is untouched by the mode.
    assert_eq!(spec.branch_template, "nightshift/{shift}/{job}");
    // A spec with no [landing] pushes a branch, as before.
    let least = f.parse(MINIMAL).expect("parses");
    assert_eq!(least.landing.mode, LandingMode::Branch);
    assert!(least.landing.is_default());
}

#[test]
fn landing_mistakes_name_their_key() {
    let f = Fleet::new();
    let base = format!("{MINIMAL}{PULLS}");
    let cases = [
        ("unknown mode", "mode = \"pull_request\"", "mode = \"push\""),
        ("merge queue", "mode = \"pull_request\"", "mode = \"merge\""),
        (
            "draft on a branch",
            "mode = \"pull_request\"",
            "mode = \"branch\"",
        ),
        (
            "factory branch as target",
            "target = \"release\"",
            "target = \"nightshift/x\"",
        ),
        (
            "spaces in target",
            "target = \"release\"",
            "target = \"my branch\"",
        ),
        ("comma label", "\"chore\"]", "\"a,b\"]"),
        (
            "zero timeout",
            "ci_timeout_minutes = 0.5",
            "ci_timeout_minutes = 0",
        ),
        (
            "zero open",
            "max_open_pull_requests = 5",
            "max_open_pull_requests = 0",
        ),
    ];
    let mut out = String::new();
    for (what, from, to) in cases {
        out.push_str(&format!("{what}:\n  {}\n", f.error_with(&base, from, to)));
    }
    let bad_repo = MINIMAL.replace(
        "[recipe]",
        "[[fleet.override]]\nrepo = \"tool\"\nforge = \"work\"\nforge_repo = \"no-owner\"\n\n[recipe]",
    );
    out.push_str(&format!(
        "bad forge repo:\n  {}\n",
        f.parse(&bad_repo).expect_err("refused")
    ));
    insta::assert_snapshot!(out, @r#"
    unknown mode:
      [TMP]/shift.toml:16:8: unknown variant `push`, expected one of `branch`, `pull_request`, `merge` (key `landing.mode`)
    merge queue:
      [TMP]/shift.toml:16:8: `merge` (the merge queue) is not built in this version: use `"pull_request"`, which ends at `ci_green` for a person or the forge's own merge queue to merge (docs/landing.md) (key `landing.mode`)
    draft on a branch:
      [TMP]/shift.toml:18:9: applies to pull requests only: set `landing.mode = "pull_request"`, or remove it (key `landing.draft`)
    factory branch as target:
      [TMP]/shift.toml:17:10: `nightshift/x` is not a branch pull requests can target (a branch name such as `main`, not one of the factory's `nightshift/…`) (key `landing.target`)
    spaces in target:
      [TMP]/shift.toml:17:10: `my branch` is not a branch pull requests can target (a branch name such as `main`, not one of the factory's `nightshift/…`) (key `landing.target`)
    comma label:
      [TMP]/shift.toml:19:10: `a,b` is not a label: labels are not empty and hold no comma (key `landing.labels`)
    zero timeout:
      [TMP]/shift.toml:23:22: must be a number above 0 (key `landing.ci_timeout_minutes`)
    zero open:
      [TMP]/shift.toml:26:26: must be at least 1 (key `landing.max_open_pull_requests`)
    bad forge repo:
      [TMP]/shift.toml:9:14: `no-owner` is not a repository path on a forge: write `owner/name` (or `group/subgroup/name`) (key `fleet.override.forge_repo`)
    "#);
}

#[test]
fn an_override_names_its_forge_and_repository() {
    let f = Fleet::new();
    let text = MINIMAL.replace(
        "[recipe]",
        "[[fleet.override]]\nrepo = \"tool\"\nforge = \"work\"\nforge_repo = \"group/sub/tool\"\n\n[recipe]",
    );
    let spec = f.parse(&text).expect("parses");
    assert_eq!(spec.jobs[0].forge.as_deref(), Some("work"));
    assert_eq!(spec.jobs[0].forge_repo.as_deref(), Some("group/sub/tool"));
}

const FORGES: &str = r#"
[[forge]]
name = "hub"
kind = "github"
token_env = "GITHUB_TOKEN"

[[forge]]
name = "ghe"
kind = "github"
api_base = "https://ghe.example.com/api/v3/"
token_env = "GHE_TOKEN"

[[forge]]
name = "tea"
kind = "gitea"
api_base = "http://127.0.0.1:3000/api/v1"
token_env = "TEA_TOKEN"
hosts = ["Git.Example.com"]
"#;

#[test]
fn forges_resolve_their_api_and_hosts() {
    let f = Fleet::new();
    let config = f.config(FORGES).expect("parses");
    let hub = config.forge("hub").expect("hub");
    assert_eq!(
        (hub.kind, hub.api_base.as_str(), hub.token_env.as_str()),
        (ForgeApi::Github, "https://api.github.com", "GITHUB_TOKEN")
    );
    assert_eq!(hub.hosts, ["github.com"]);
    let ghe = config.forge("ghe").expect("ghe");
    assert_eq!(ghe.api_base, "https://ghe.example.com/api/v3");
    assert_eq!(ghe.hosts, ["ghe.example.com"]);
    let tea = config.forge("tea").expect("tea");
    assert_eq!(
        (tea.kind, tea.hosts.as_slice()),
        (ForgeApi::Gitea, &["git.example.com".to_string()][..])
    );
    assert!(config.forge("nowhere").is_none());
}

#[test]
fn forge_mistakes_name_their_key() {
    let f = Fleet::new();
    let cases = [
        ("no token variable", "token_env = \"GITHUB_TOKEN\"\n", ""),
        (
            "a token, not a variable",
            "token_env = \"GITHUB_TOKEN\"",
            "token_env = \"ghp_abc-123\"",
        ),
        (
            "gitea without api",
            "api_base = \"http://127.0.0.1:3000/api/v1\"\n",
            "",
        ),
        ("unknown kind", "kind = \"gitea\"", "kind = \"bitbucket\""),
        ("twice", "name = \"ghe\"", "name = \"hub\""),
        (
            "secret in url",
            "https://ghe.example.com/api/v3/",
            "https://me:pw@ghe.example.com/api/v3/",
        ),
    ];
    let mut out = String::new();
    for (what, from, to) in cases {
        assert!(FORGES.contains(from), "{what}");
        let err = f.config(&FORGES.replacen(from, to, 1)).expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r#"
    no token variable:
      [TMP]/nightshift.toml:2:1: a [[forge]] needs `token_env`: the environment variable that holds its API token (the token itself never goes in a file) (key `forge.token_env`)
    a token, not a variable:
      [TMP]/nightshift.toml:5:13: `ghp_abc-123` is not an environment variable name: letters, digits and `_` (key `forge.token_env`)
    gitea without api:
      [TMP]/nightshift.toml:13:1: forge `tea` of kind `gitea` needs `api_base`, such as `https://gitea.example.com/api/v1` (key `forge.api_base`)
    unknown kind:
      [TMP]/nightshift.toml:15:8: unknown variant `bitbucket`, expected one of `github`, `gitlab`, `gitea` (key `forge.kind`)
    twice:
      [TMP]/nightshift.toml:8:8: forge `hub` is defined twice (key `forge.name`)
    secret in url:
      [TMP]/nightshift.toml:10:12: `https://me:pw@ghe.example.com/api/v3/` is not an http:// or https:// URL with a host (and no user or password: a token goes in `token_env`) (key `forge.api_base`)
    "#);
}
