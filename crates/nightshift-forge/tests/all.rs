//! The forge client against the forge stand-in (a real HTTP server speaking GitHub's REST
//! API over bare git repositories): pull requests found, opened and updated in place,
//! checks and feedback read, the forge's failures turned into errors that name the
//! repository and never the token.

use std::path::Path;
use std::time::Duration;

use nightshift_forge::{
    CheckState, FeedbackKind, Forge, ForgeError, ForgeKind, NewPull, PullState, RepoPath, Token,
};
use nightshift_testkit::{Fault, ForgeStandIn, ReviewKind, git};

const TOKEN: &str = "ghp_standin_secret_0123456789";

struct World {
    _dir: tempfile::TempDir,
    hub: ForgeStandIn,
    forge: Forge,
    repo: RepoPath,
    bare: std::path::PathBuf,
}

/// A seed repository pushed to the stand-in as `acme/calc`, with a branch
/// `nightshift/s/calc` one commit ahead of `main`.
async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(&seed).expect("mkdir");
    git(&seed, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(seed.join("calc.sh"), "echo 4\n").expect("write");
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "--quiet", "-m", "seed"]);
    let hub = ForgeStandIn::start(&dir.path().join("forge"), TOKEN)
        .await
        .expect("start");
    let bare = hub.add_repo("acme/calc", &seed, "main");
    push_change(&seed, &bare, "nightshift/s/calc", "echo 5\n");
    let forge =
        Forge::new(ForgeKind::Github, &hub.github_api(), Token::new(TOKEN)).expect("client");
    World {
        repo: RepoPath::new("acme/calc").expect("path"),
        _dir: dir,
        hub,
        forge,
        bare,
    }
}

/// Commit `text` as calc.sh on `branch` (from main) in `seed` and force-push it.
fn push_change(seed: &Path, bare: &Path, branch: &str, text: &str) -> String {
    git(seed, &["checkout", "--quiet", "-B", branch, "main"]);
    std::fs::write(seed.join("calc.sh"), text).expect("write");
    git(seed, &["commit", "--quiet", "-am", "change"]);
    git(
        seed,
        &[
            "push",
            "--quiet",
            "--force",
            &bare.display().to_string(),
            branch,
        ],
    );
    git(seed, &["checkout", "--quiet", "main"]);
    git(bare, &["rev-parse", &format!("refs/heads/{branch}")])
        .trim()
        .to_string()
}

fn new_pull() -> NewPull {
    NewPull {
        head: "nightshift/s/calc".into(),
        base: "main".into(),
        title: "nightshift: calc".into(),
        body: "first".into(),
        draft: true,
        labels: vec!["nightshift".into(), "chore".into()],
    }
}

#[tokio::test]
async fn a_pull_request_is_opened_once_found_again_and_updated_in_place() {
    let w = world().await;
    assert_eq!(
        w.forge.default_branch(&w.repo).await.expect("branch"),
        "main"
    );
    assert_eq!(
        w.forge
            .find_pull(&w.repo, "nightshift/s/calc")
            .await
            .expect("find"),
        None
    );
    let opened = w.forge.open_pull(&w.repo, &new_pull()).await.expect("open");
    assert_eq!(
        (
            opened.number,
            opened.state,
            opened.draft,
            opened.labels.clone()
        ),
        (
            1,
            PullState::Open,
            true,
            vec!["nightshift".to_string(), "chore".to_string()]
        )
    );
    assert!(opened.url.ends_with("/acme/calc/pull/1"), "{}", opened.url);
    // A second open for the same head is the forge's 422, named for the repository.
    let twice = w
        .forge
        .open_pull(&w.repo, &new_pull())
        .await
        .expect_err("422");
    assert!(matches!(twice, ForgeError::Invalid { .. }), "{twice:?}");
    assert!(
        twice.to_string().contains("acme/calc") && twice.to_string().contains("already exists"),
        "{twice}"
    );
    let found = w
        .forge
        .find_pull(&w.repo, "nightshift/s/calc")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(
        (found.number, found.head_sha.clone()),
        (1, opened.head_sha.clone())
    );
    let updated = w
        .forge
        .update_pull(&w.repo, 1, "nightshift: calc (2)", "second")
        .await
        .expect("update");
    assert_eq!(
        (updated.title.as_str(), updated.body.as_str()),
        ("nightshift: calc (2)", "second")
    );
    let page = w.hub.pulls("acme/calc");
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].body.as_str(), page[0].state.as_str()),
        ("second", "open")
    );
    assert_eq!(
        w.forge.pull(&w.repo, 1).await.expect("pull").mergeable,
        Some(true)
    );
}

#[tokio::test]
async fn checks_are_read_with_their_log_and_a_new_head_gets_its_own() {
    let w = world().await;
    w.hub.set_ci(
        "acme/calc",
        "ci/test",
        "test \"$(sh calc.sh)\" = 4 || { echo 'expected 4, got' $(sh calc.sh); exit 1; }",
    );
    let pull = w.forge.open_pull(&w.repo, &new_pull()).await.expect("open");
    w.hub.ci_idle().await;
    let checks = w
        .forge
        .checks(&w.repo, &pull.head_sha)
        .await
        .expect("checks");
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(
        (checks[0].name.as_str(), checks[0].state),
        ("ci/test", CheckState::Failure)
    );
    assert!(
        checks[0]
            .log_excerpt
            .as_deref()
            .unwrap_or("")
            .contains("expected 4, got 5"),
        "{checks:?}"
    );
    // A fix pushed to the same branch is a new head, checked again, green.
    let seed = w._dir.path().join("seed");
    let fixed = push_change(&seed, &w.bare, "nightshift/s/calc", "echo 4 # fixed\n");
    w.hub.ci_idle().await;
    let checks = w.forge.checks(&w.repo, &fixed).await.expect("checks");
    assert_eq!(
        checks.iter().map(|c| c.state).collect::<Vec<_>>(),
        [CheckState::Success]
    );
    assert_eq!(w.hub.ci_runs(), 2);
    // A commit status posted by another CI shows beside the check run.
    let client = reqwest::Client::new();
    let posted = client
        .post(format!(
            "{}/repos/acme/calc/statuses/{fixed}",
            w.hub.github_api()
        ))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"state": "pending", "context": "lint", "description": "queued"}))
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status().as_u16(), 201);
    let mut checks = w.forge.checks(&w.repo, &fixed).await.expect("checks");
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        checks
            .iter()
            .map(|c| (c.name.as_str(), c.state))
            .collect::<Vec<_>>(),
        [
            ("ci/test", CheckState::Success),
            ("lint", CheckState::Pending)
        ]
    );
}

#[tokio::test]
async fn reviews_and_comments_are_read_oldest_first() {
    let w = world().await;
    let pull = w.forge.open_pull(&w.repo, &new_pull()).await.expect("open");
    w.hub.comment("acme/calc", pull.number, "Why echo?");
    w.hub.review(
        "acme/calc",
        pull.number,
        ReviewKind::RequestChanges,
        "Print 4, not 5.",
        Some(("calc.sh", 1)),
    );
    let feedback = w
        .forge
        .feedback(&w.repo, pull.number)
        .await
        .expect("feedback");
    let seen: Vec<_> = feedback
        .iter()
        .map(|f| (f.kind, f.body.as_str(), f.path.as_deref(), f.line))
        .collect();
    assert_eq!(
        seen,
        [
            (FeedbackKind::Commented, "Why echo?", None, None),
            (
                FeedbackKind::ChangesRequested,
                "Print 4, not 5.",
                None,
                None
            ),
            (
                FeedbackKind::Commented,
                "Print 4, not 5.",
                Some("calc.sh"),
                Some(1)
            ),
        ]
    );
}

#[tokio::test]
async fn a_closed_pull_request_reads_closed_and_a_landed_branch_reads_merged() {
    let w = world().await;
    let pull = w.forge.open_pull(&w.repo, &new_pull()).await.expect("open");
    w.hub.close_pull("acme/calc", pull.number);
    let found = w
        .forge
        .find_pull(&w.repo, "nightshift/s/calc")
        .await
        .expect("find");
    assert_eq!(found.map(|p| p.state), Some(PullState::Closed));

    let w = world().await;
    let pull = w.forge.open_pull(&w.repo, &new_pull()).await.expect("open");
    // A merge on a head that moved is refused; on the head seen, it lands.
    let stale = w
        .forge
        .merge(
            &w.repo,
            pull.number,
            "0000000000000000000000000000000000000000",
        )
        .await;
    assert!(
        matches!(stale, Err(ForgeError::Invalid { .. })),
        "{stale:?}"
    );
    w.forge
        .merge(&w.repo, pull.number, &pull.head_sha)
        .await
        .expect("merge");
    assert_eq!(
        w.forge
            .pull(&w.repo, pull.number)
            .await
            .expect("pull")
            .state,
        PullState::Merged
    );
    assert_eq!(
        git(&w.bare, &["rev-parse", "refs/heads/main"]).trim(),
        pull.head_sha
    );
}

#[tokio::test]
async fn the_forges_failures_name_the_repository_and_never_the_token() {
    let w = world().await;
    let wrong = Forge::new(
        ForgeKind::Github,
        &w.hub.github_api(),
        Token::new("ghp_wrong_token_42"),
    )
    .expect("client");
    let err = wrong.default_branch(&w.repo).await.expect_err("401");
    assert!(matches!(err, ForgeError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string().contains("acme/calc") && err.to_string().contains("token_env"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("ghp_wrong_token_42"));

    let missing = RepoPath::new("acme/gone").expect("path");
    let err = w.forge.default_branch(&missing).await.expect_err("404");
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("acme/gone") && err.to_string().contains("forge_repo"),
        "{err}"
    );

    w.hub.fail_next(Fault {
        method: "GET".into(),
        path_contains: "/pulls".into(),
        status: 429,
        retry_after_s: Some(7),
        times: 1,
    });
    let err = w
        .forge
        .find_pull(&w.repo, "nightshift/s/calc")
        .await
        .expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err:?}");
    assert!(err.is_rate_limit());
    // The fault was used up: the next call goes through.
    assert_eq!(
        w.forge
            .find_pull(&w.repo, "nightshift/s/calc")
            .await
            .expect("find"),
        None
    );

    w.hub.fail_next(Fault {
        method: "GET".into(),
        path_contains: "/acme/calc".into(),
        status: 500,
        retry_after_s: None,
        times: 1,
    });
    let err = w.forge.default_branch(&w.repo).await.expect_err("500");
    assert!(
        matches!(err, ForgeError::Status { status: 500, .. }),
        "{err:?}"
    );
    let every = w.hub.requests().join("\n");
    assert!(!every.contains(TOKEN), "a request line holds the token");
}
