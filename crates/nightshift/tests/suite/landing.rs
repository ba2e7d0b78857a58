//! Landing through pull requests, end to end: the real binary, real git, the command
//! worker, the forge stand-in (GitHub's REST API over bare repositories, with a CI that
//! runs on every new head) and octocrab as the factory's client.

use std::path::Path;
use std::process::Output;

use nightshift_store::{Event, FactoryStore, FeedbackSource, SqliteStore};
use nightshift_testkit::{ForgeStandIn, Script};
use serde_json::Value;

use super::factory::{World, python_repo};

const TOKEN: &str = "ghp_standin_token_never_shown_4242";
/// What the `no-token` gate greps for: enough of the token to find it, not
/// all of it, so the gate's own command (kept in the store) is not a leak.
const TOKEN_PREFIX: &str = "ghp_standin_token_never";
const TOKEN_ENV: &str = "NS_TEST_FORGE_TOKEN";

/// The world, and the forge holding `acme/calc` (the failing Python package).
async fn world() -> (World, ForgeStandIn) {
    let w = World::new(Script::new([])).await;
    python_repo(&w.path("seed"));
    let hub = ForgeStandIn::start(&w.path("forge"), TOKEN)
        .await
        .expect("forge");
    hub.add_repo("acme/calc", &w.path("seed"), "main");
    let config = std::fs::read_to_string(w.path("nightshift.toml")).expect("config");
    std::fs::write(
        w.path("nightshift.toml"),
        format!(
            "{config}\n[[forge]]\nname = \"standin\"\nkind = \"github\"\napi_base = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\n",
            hub.github_api()
        ),
    )
    .expect("config");
    (w, hub)
}

/// A shift over `acme/calc` whose worker makes `add` add, and (told by a failing CI) gives
/// it a docstring too. A gate fails if the forge token is anywhere in its environment,
/// and the worker prints its whole environment into its transcript.
fn spec(name: &str, extra: &str) -> String {
    format!(
        r#"name = "{name}"

[fleet]
repos = ["forge/acme/calc.git"]

[[fleet.override]]
repo = "calc"
forge = "standin"
forge_repo = "acme/calc"

[recipe]
prompt = "Make the failing test pass."
worker = "command"
model = "agent-model"
command = '''
env
sed -i 's/a - b/a + b/' calc.py
if printf '%s' "$NIGHTSHIFT_NOTES" | grep -q 'ci/test failed'; then sed -i '1a\    """Add two numbers."""' calc.py; fi
echo NIGHTSHIFT_DONE
'''

[gates]
commands = ["python3 -m unittest -q", {{ name = "no-token", run = "! env | grep -q {TOKEN_PREFIX}" }}]

[stop]
max_iterations = 1

[budget]
shift_usd = 1
job_usd = "0.50"

[landing]
mode = "pull_request"
branch = "nightshift/{{job}}"
labels = ["nightshift"]
ci_poll_secs = 0.05
checks_grace_secs = 0.5
{extra}
"#
    )
}

fn run(w: &World, with_token: bool) -> (Output, Value) {
    let mut cmd = super::bin();
    if with_token {
        cmd.env(TOKEN_ENV, TOKEN);
    } else {
        cmd.env_remove(TOKEN_ENV);
    }
    let out = cmd
        .args(["run", "shift.toml", "--config", "nightshift.toml", "--json"])
        .current_dir(w.dir.path())
        .output()
        .expect("nightshift runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

async fn events(dir: &Path, shift: &str) -> Vec<Event> {
    let store = SqliteStore::open(&format!("sqlite://{}", dir.join("ledger.db").display()))
        .await
        .expect("store");
    store
        .events(shift, 0)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ci_is_fixed_and_the_pull_request_lands_green() {
    let (w, hub) = world().await;
    hub.set_ci(
        "acme/calc",
        "ci/test",
        "python3 -m unittest -q && grep -q 'Add two numbers' calc.py || { echo 'lint: add() has no docstring'; exit 1; }",
    );
    w.spec(&spec("night", ""));
    let (out, report) = run(&w, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(
        (
            job["landing"].as_str(),
            job["iterations"].as_i64(),
            job["accepted"].as_i64(),
            job["stop_reason"].as_str()
        ),
        (
            Some("ci_green: #1: every check passed"),
            Some(2),
            Some(2),
            Some("done")
        ),
        "{report:#}"
    );
    // One pull request, green on its last head, with the evidence in its body.
    let pulls = hub.pulls("acme/calc");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let p = &pulls[0];
    assert_eq!(
        (
            p.state.as_str(),
            p.head.as_str(),
            p.base.as_str(),
            p.labels.clone()
        ),
        (
            "open",
            "nightshift/calc",
            "main",
            vec!["nightshift".to_string()]
        )
    );
    assert_eq!(p.checks, [("ci/test".to_string(), "success".to_string())]);
    assert_eq!(p.title, "nightshift(calc): Make the failing test pass.");
    for part in [
        "shift `night`, job `calc`: 2 of 2 iterations accepted",
        "- iteration 1: ",
        "- iteration 2: ",
        "`python3 -m unittest`: passed",
        "Ran 1 test",
        "`no-token`: passed",
        "0 model calls",
    ] {
        assert!(p.body.contains(part), "`{part}` not in:\n{}", p.body);
    }
    assert_eq!(hub.ci_runs(), 2, "CI ran on the first head and on the fix");
    let bare = hub.repo_path("acme/calc");
    let fixed = nightshift_testkit::git(&bare, &["show", "nightshift/calc:calc.py"]);
    assert_eq!(
        fixed,
        "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b"
    );

    // The log tells the story: published, red, told, fixed, updated, green.
    let log = events(w.dir.path(), "night").await;
    let story: Vec<String> = log
        .iter()
        .filter_map(|e| match e {
            Event::PullRequestPublished { number, opened, .. } => {
                Some(format!("published #{number} opened={opened}"))
            }
            Event::ChecksSettled { checks, .. } => Some(format!(
                "checks {}",
                checks
                    .iter()
                    .map(|c| format!("{}={:?}", c.name, c.state))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            Event::LandingFeedback { n, source, text } => {
                assert!(text.contains("lint: add() has no docstring"), "{text}");
                Some(format!("feedback n={n} {source:?}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        story,
        [
            "published #1 opened=true",
            "checks ci/test=Failure",
            "feedback n=2 Ci",
            "published #1 opened=false",
            "checks ci/test=Success",
        ]
    );
    assert!(log.iter().any(|e| matches!(
        e,
        Event::LandingFeedback {
            source: FeedbackSource::Ci,
            ..
        }
    )));
    // The token reached no worker, no gate, no log, no row.
    for file in ["ledger.db", "ledger.db-wal"] {
        let bytes = std::fs::read(w.path(file)).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "{file}");
    }
    assert!(!stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_shift_updates_the_same_pull_request_and_a_closed_one_stays_closed() {
    let (w, hub) = world().await;
    w.spec(&spec("first", ""));
    let (out, report) = run(&w, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["jobs"][0]["landing"].as_str(),
        Some("ci_green: #1: no check ran within the grace (the repository has no CI)")
    );
    let first_head = hub.pulls("acme/calc")[0].head_sha.clone();

    // Another shift over the same branch: the same pull request, its branch replaced with
    // a lease, its body the new shift's.
    w.spec(&spec("second", ""));
    let (out, report) = run(&w, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["jobs"][0]["landing"].as_str(),
        Some("ci_green: #1: no check ran within the grace (the repository has no CI)"),
        "{report:#}"
    );
    let pulls = hub.pulls("acme/calc");
    assert_eq!(pulls.len(), 1, "never a second pull request: {pulls:?}");
    assert!(
        pulls[0].body.contains("shift `second`"),
        "{}",
        pulls[0].body
    );
    assert_ne!(pulls[0].head_sha, first_head, "the branch was replaced");
    let log = events(w.dir.path(), "second").await;
    assert!(log.iter().any(|e| matches!(
        e,
        Event::PullRequestPublished {
            number: 1,
            opened: false,
            ..
        }
    )));

    // A person closes it: the next shift leaves it closed and says so.
    hub.close_pull("acme/calc", 1);
    let head_before = hub.pulls("acme/calc")[0].head_sha.clone();
    w.spec(&spec("third", ""));
    let (out, report) = run(&w, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["jobs"][0]["landing"].as_str(),
        Some(
            "closed: #1 was closed by a person; it is left closed and the branch is not pushed again"
        )
    );
    let pulls = hub.pulls("acme/calc");
    assert_eq!((pulls.len(), pulls[0].state.as_str()), (1, "closed"));
    assert_eq!(pulls[0].head_sha, head_before, "nothing pushed over it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_or_forge_is_bad_input_before_any_work() {
    let (w, hub) = world().await;
    w.spec(&spec("night", ""));
    let (out, _) = run(&w, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("job `calc`: forge `standin` reads its token from the environment variable NS_TEST_FORGE_TOKEN, which is not set"),
        "{stderr}"
    );
    w.spec(&spec("night", "").replace("forge = \"standin\"", "forge = \"elsewhere\""));
    let (out, _) = run(&w, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`fleet.override.forge = \"elsewhere\"` names no [[forge]] of the configuration (forges: standin)"),
        "{stderr}"
    );
    assert!(hub.requests().is_empty(), "nothing reached the forge");
    assert!(hub.pulls("acme/calc").is_empty());
}
