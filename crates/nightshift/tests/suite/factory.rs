//! `nightshift run` end to end: real git repositories, the real binary, the built-in agent
//! driven by the scripted provider's tool calls, real gates.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub use nightshift_testkit::git;
use nightshift_testkit::{Script, ScriptedProvider, Step};

use super::run;

/// A Python package whose one test fails: `add` subtracts.
pub fn python_repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("calc.py"), "def add(a, b):\n    return a - b\n").expect("write");
    std::fs::write(
        dir.join("test_calc.py"),
        "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
    )
    .expect("write");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "calc"]);
    git(dir, &["rev-parse", "HEAD"])
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub provider: ScriptedProvider,
}

impl World {
    pub async fn new(script: Script) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let provider = ScriptedProvider::start(script).await.expect("provider");
        std::fs::write(
            dir.path().join("nightshift.toml"),
            format!(
                "[store]\nurl = \"sqlite://ledger.db\"\n\n[[provider]]\nname = \"scripted\"\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n[[model]]\nname = \"agent-model\"\nprovider = \"scripted\"\ninput_usd_per_mtok = \"1.00\"\noutput_usd_per_mtok = \"4.00\"\n",
                provider.base_url()
            ),
        )
        .expect("config");
        Self { dir, provider }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn spec(&self, body: &str) {
        std::fs::write(self.path("shift.toml"), body).expect("spec");
    }

    pub fn run_json(&self, args: &[&str]) -> (i32, Value, String) {
        let out = run(args, self.dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr,
        )
    }
}

/// The scripted agent edits calc.py.
pub fn edit(old: &str, new: &str) -> Step {
    Step::tool_call(
        "edit_file",
        json!({"path": "calc.py", "old_text": old, "new_text": new}),
    )
    .with_usage(3000, 40)
}

/// The scripted agent finishes its iteration, claiming done or not.
pub fn finish(done: bool) -> Step {
    Step::tool_call(
        "finish",
        json!({"summary": "changed add", "done": done, "notes": "tried a fix"}),
    )
    .with_usage(3100, 20)
}

pub const SPEC: &str = r#"name = "fix-calc"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"

[gates]
commands = ["python3 -m unittest -q"]

[stop]
max_iterations = 4

[budget]
shift_usd = 1
job_usd = "0.50"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_fixes_a_failing_test_in_two_iterations() {
    let w = World::new(Script::new([
        edit("a - b", "a * b"),
        finish(true),
        edit("a - b", "a + b"),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(SPEC);
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(job["stop_reason"], "done", "{report:#}");
    assert_eq!(
        (
            job["iterations"].as_i64(),
            job["accepted"].as_i64(),
            job["defects"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(job["defects_by_gate"], json!({"python3 -m unittest": 1}));

    // Four model calls of known usage: the ledger, the report and the arithmetic agree.
    let per_call = [3000 * 1000 + 40 * 4000, 3100 * 1000 + 20 * 4000];
    let expected: i64 = 2 * (per_call[0] + per_call[1]);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(4), Some(expected))
    );
    assert_eq!(job["nanos_per_accepted"].as_i64(), Some(expected));
    let (_, ledger, _) = w.run_json(&[
        "ledger",
        "--config",
        "nightshift.toml",
        "--shift",
        "fix-calc",
        "--by",
        "job",
        "--json",
    ]);
    assert_eq!(ledger["total"]["settled_nanos"].as_i64(), Some(expected));

    // The branch holds exactly the accepted commit; the rejected one is kept under its ref.
    let mirror = super::factory_resume::mirror(&w);
    let branch_log = git(
        &mirror,
        &["rev-list", &format!("{base}..nightshift/fix-calc/calc")],
    );
    let second = git(&mirror, &["rev-parse", "refs/nightshift/fix-calc/calc/2"]);
    assert_eq!(branch_log, second, "one commit on the branch: iteration 2");
    assert_eq!(
        git(
            &mirror,
            &["show", "refs/nightshift/fix-calc/calc/1:calc.py"]
        ),
        "def add(a, b):\n    return a * b"
    );
    assert_eq!(
        git(&mirror, &["show", "nightshift/fix-calc/calc:calc.py"]),
        "def add(a, b):\n    return a + b"
    );
    assert!(
        !w.path(".nightshift/worktrees/fix-calc/calc").exists(),
        "the finished job's worktree is gone, its work kept"
    );

    let out = run(
        &["diff", "fix-calc", "calc", "--config", "nightshift.toml"],
        w.dir.path(),
    );
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("-    return a - b\n+    return a + b"),
        "{diff}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, st, _) = w.run_json(&[
        "status",
        "fix-calc",
        "--config",
        "nightshift.toml",
        "--json",
    ]);
    assert_eq!((status, &st), (0, &report));

    // Running the finished shift again reports it and runs nothing.
    let (code, again, _) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!((code, &again), (0, &report));
    assert_eq!(w.provider.served(), 4);
}
