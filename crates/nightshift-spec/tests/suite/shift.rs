//! The shift spec: good specs resolve to jobs; each mistake gets its own clear message.

use std::path::Path;

use nightshift_spec::WorkerKind;

use super::{Fleet, GOOD};

#[test]
fn a_good_spec_resolves_globs_overrides_and_defaults() {
    let f = Fleet::new();
    let s = f.parse(GOOD).expect("valid");
    assert_eq!(s.name, "coverage");
    let jobs: Vec<_> = s
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.job_nanos, j.max_iterations))
        .collect();
    assert_eq!(
        jobs,
        [
            ("billing", 2_500_000_000, 5),
            ("search", 2_500_000_000, 5),
            ("tool", 500_000_000, 2)
        ]
    );
    assert!(
        s.jobs[0].source.ends_with("/repos/billing"),
        "absolute source: {}",
        s.jobs[0].source
    );
    assert_eq!(s.jobs[0].worker, WorkerKind::Builtin);
    let gates: Vec<_> = s.jobs[0]
        .gates
        .commands
        .iter()
        .map(|g| (g.name.as_str(), g.run.as_str(), g.timeout_secs))
        .collect();
    assert_eq!(
        gates,
        [
            ("cargo test --quiet", "cargo test --quiet", 600),
            ("lint", "cargo clippy", 30)
        ]
    );
    assert_eq!(
        (s.shift_nanos, s.concurrency, s.stop.stall_iterations),
        (10_000_000_000, 4, 3)
    );
    assert_eq!(s.branch_for("billing"), "nightshift/coverage/billing");
}

#[test]
fn each_mistake_gets_its_own_message() {
    let f = Fleet::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown key",
            "[stop]\nmax_iterations = 5",
            "[stop]\nmax_iterations = 5\nmax_iteratoins = 6",
        ),
        (
            "wrong type",
            "max_iterations = 5",
            "max_iterations = \"five\"",
        ),
        (
            "bad wall clock",
            "max_iterations = 5",
            "max_iterations = 5\nwall_clock_minutes = -1",
        ),
        (
            "missing repository",
            "\"other/tool\"]",
            "\"other/tool\", \"other/gone\"]",
        ),
        (
            "not a repository",
            "\"other/tool\"]",
            "\"repos/not-a-repo\"]",
        ),
        ("glob matching nothing", "\"repos/*\"", "\"nowhere/*\""),
        ("unknown override", "repo = \"tool\"", "repo = \"tools\""),
        ("job over shift", "job_usd = \"2.50\"", "job_usd = \"20\""),
        ("bad money", "shift_usd = 10", "shift_usd = \"ten\""),
        (
            "command worker without command",
            "worker = \"builtin\"",
            "worker = \"command\"",
        ),
        (
            "unknown worker",
            "worker = \"builtin\"",
            "worker = \"devin\"",
        ),
        (
            "silent forever",
            "worker = \"builtin\"",
            "worker = \"codex\"\nsilence_secs = 0",
        ),
        (
            "zero iterations",
            "max_iterations = 5",
            "max_iterations = 0",
        ),
        ("bad name", "name = \"coverage\"", "name = \"cover age\""),
        ("no prompt", "prompt = \"Raise test coverage.\"\n", ""),
        (
            "missing prompt file",
            "prompt = \"Raise test coverage.\"",
            "prompt_file = \"recipe.md\"",
        ),
    ];
    let mut out = String::new();
    for (what, from, to) in cases {
        assert!(GOOD.contains(from), "{what}: `{from}` not in the spec");
        let err = f.parse(&GOOD.replacen(from, to, 1)).expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r#"
    unknown key:
      [TMP]/shift.toml:21:1: unknown field `max_iteratoins`, expected one of `max_iterations`, `wall_clock_minutes`, `stall_iterations` (key `stop.max_iteratoins`)
    wrong type:
      [TMP]/shift.toml:20:18: invalid type: string "five", expected u32 (key `stop.max_iterations`)
    bad wall clock:
      [TMP]/shift.toml:21:22: must be a number of minutes above 0 (key `stop.wall_clock_minutes`)
    missing repository:
      [TMP]/shift.toml:4:35: repository `other/gone` ([TMP]/other/gone) does not exist (key `fleet.repos`)
    not a repository:
      [TMP]/shift.toml:4:21: repository `repos/not-a-repo` ([TMP]/repos/not-a-repo) is not a git repository (key `fleet.repos`)
    glob matching nothing:
      [TMP]/shift.toml:4:10: `nowhere/*` matches no git repository (key `fleet.repos`)
    unknown override:
      [TMP]/shift.toml:7:8: no repository of the fleet is named `tools` (names: billing, search, tool) (key `fleet.override.repo`)
    job over shift:
      [TMP]/shift.toml:24:11: a job's budget ($20.00) cannot exceed the shift's ($10.00) (key `budget.job_usd`)
    bad money:
      [TMP]/shift.toml:23:13: `ten` is not a dollar amount (expected digits like 2.50) (key `budget.shift_usd`)
    command worker without command:
      [TMP]/shift.toml:13:10: worker `command` needs `command = "…"`, the command line to run in the worktree (key `recipe.command`)
    unknown worker:
      [TMP]/shift.toml:13:10: unknown variant `devin`, expected one of `builtin`, `command`, `codex`, `claude-code`, `opencode` (key `recipe.worker`)
    silent forever:
      [TMP]/shift.toml:14:16: must be at least 1 (key `recipe.silence_secs`)
    zero iterations:
      [TMP]/shift.toml:20:18: must be at least 1 (key `stop.max_iterations`)
    bad name:
      [TMP]/shift.toml:1:8: `cover age` is not a valid shift name: use letters, digits, `-` and `_` (key `name`)
    no prompt:
      [TMP]/shift.toml:11:1: the recipe needs a `prompt` (or a `prompt_file`) (key `recipe.prompt`)
    missing prompt file:
      [TMP]/shift.toml:12:15: cannot read prompt file [TMP]/recipe.md: No such file or directory (os error 2) (key `recipe.prompt_file`)
    "#);
}

#[test]
fn the_published_schema_is_the_generated_one() {
    let generated =
        serde_json::to_string_pretty(&nightshift_spec::shift_schema()).expect("json") + "\n";
    let published = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/shift.schema.json");
    if std::env::var_os("NIGHTSHIFT_BLESS").is_some() {
        std::fs::write(&published, &generated).expect("write schema");
    }
    let on_disk = std::fs::read_to_string(&published).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/shift.schema.json is stale: run NIGHTSHIFT_BLESS=1 cargo test -p nightshift-spec"
    );
    for key in [
        "fleet", "recipe", "gates", "stop", "budget", "run", "landing",
    ] {
        assert!(
            generated.contains(&format!("\"{key}\"")),
            "schema names {key}"
        );
    }
}

#[test]
fn the_scaffold_is_a_valid_spec() {
    let f = Fleet::new();
    let text = nightshift_spec::scaffold("my-shift", &["repos/*".to_string()], "gpt");
    let s = f.parse(&text).expect("scaffold parses");
    assert_eq!(s.jobs.len(), 2);
}

#[test]
fn a_sandbox_policy_this_version_cannot_enforce_is_refused_not_ignored() {
    let f = Fleet::new();
    let ok = f
        .parse(&format!(
            "{GOOD}\n[sandbox]\nnetwork = \"none\"\nprocesses = 64\n"
        ))
        .expect("valid");
    assert_eq!(
        (
            ok.sandbox.network,
            ok.sandbox.processes,
            ok.sandbox.memory_mb
        ),
        (nightshift_spec::SandboxNetwork::None, 64, 4096)
    );
    let mut out = String::new();
    for (what, table) in [
        ("allowlist", "network = [\"crates.io:443\"]"),
        ("unknown network", "network = \"everywhere\""),
        ("unknown mode", "mode = \"maybe\""),
        ("no processes", "processes = 0"),
    ] {
        let err = f
            .parse(&format!("{GOOD}\n[sandbox]\n{table}\n"))
            .expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r#"
    allowlist:
      [TMP]/shift.toml:27:11: an allowlist of host:port entries is not enforced by this version of nightshift, so it is refused rather than ignored: use "gateway" (only the job's gateway endpoint) or "none", and fetch what a gate needs before the shift (e.g. `cargo fetch`, a vendored folder) (key `sandbox.network`)
    unknown network:
      [TMP]/shift.toml:27:11: must be "gateway" or "none", not "everywhere" (key `sandbox.network`)
    unknown mode:
      [TMP]/shift.toml:27:8: unknown variant `maybe`, expected `on` or `off` (key `sandbox.mode`)
    no processes:
      [TMP]/shift.toml:27:13: must be at least 1 (key `sandbox.processes`)
    "#);
}

#[test]
fn the_lines_rules_are_off_unless_set_and_each_mistake_is_named() {
    let f = Fleet::new();
    let off = f.parse(GOOD).expect("valid");
    assert_eq!(off.line, nightshift_spec::LineSpec::default());
    assert_eq!(
        (off.line.max_defect_percent, off.line.max_failed_landings),
        (None, None)
    );
    let on = f
        .parse(&format!(
            "{GOOD}\n[line]\nmax_defect_percent = 60\nmax_failed_landings = 2\n"
        ))
        .expect("valid");
    assert_eq!(
        (
            on.line.max_defect_percent,
            on.line.defect_window,
            on.line.max_failed_landings
        ),
        (Some(60), 10, Some(2))
    );
    let mut out = String::new();
    for (what, table) in [
        ("zero percent", "max_defect_percent = 0"),
        ("past a hundred", "max_defect_percent = 101"),
        ("empty window", "defect_window = 0"),
        ("unknown rule", "max_spend = 3"),
        ("free spending", "max_usd_per_hour = 0"),
        ("no window", "spend_window_minutes = 0"),
    ] {
        let err = f
            .parse(&format!("{GOOD}\n[line]\n{table}\n"))
            .expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r"
    zero percent:
      [TMP]/shift.toml:27:22: must be a percentage from 1 to 100 (key `line.max_defect_percent`)
    past a hundred:
      [TMP]/shift.toml:27:22: must be a percentage from 1 to 100 (key `line.max_defect_percent`)
    empty window:
      [TMP]/shift.toml:27:17: must be at least 1 (key `line.defect_window`)
    unknown rule:
      [TMP]/shift.toml:27:1: unknown field `max_spend`, expected one of `max_defect_percent`, `defect_window`, `max_failed_landings`, `max_usd_per_hour`, `spend_window_minutes` (key `line.max_spend`)
    free spending:
      [TMP]/shift.toml:27:20: must be more than $0 an hour (key `line.max_usd_per_hour`)
    no window:
      [TMP]/shift.toml:27:24: must be at least 1 (key `line.spend_window_minutes`)
    ");
}

#[test]
fn the_guardrails_are_read_and_each_mistake_is_named() {
    let f = Fleet::new();
    let off = f.parse(GOOD).expect("valid");
    assert!(
        off.jobs[0].gates.secrets.enabled,
        "secrets are on by default"
    );
    assert_eq!(
        (
            off.jobs[0].gates.api.is_none(),
            off.jobs[0].gates.health.is_none(),
            off.jobs[0].gates.review.len()
        ),
        (true, true, 0)
    );
    std::fs::write(f.path().join("review.md"), "Be strict.").expect("write");
    let on = f
        .parse(&format!(
            "{GOOD}\n[gates.api]\nfrozen = [\"src/api/**\", \"pub fn parse\"]\n\n[gates.health]\nlint = [\"clippy\"]\nmax_new_lint_warnings = 0\nmax_complexity_increase = 2\n\n[[gates.review]]\nmodel = \"gpt\"\nprompt_file = \"review.md\"\n\n[[gates.review]]\nmodel = \"gpt\"\nmax_turns = 2\n"
        ))
        .expect("valid");
    let g = &on.jobs[0].gates;
    let api = g.api.clone().expect("api walls");
    assert_eq!(api.frozen, ["src/api/**", "pub fn parse"]);
    let health = g.health.clone().expect("health");
    assert_eq!(
        (
            health.lint.clone(),
            health.max_new_lint_warnings,
            health.max_complexity_increase,
            health.max_duplication_increase_lines
        ),
        (
            vec![nightshift_spec::Linter::Clippy],
            Some(0),
            Some(2),
            None
        )
    );
    let names: Vec<(&str, Option<&str>, u32, u32)> = g
        .review
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.prompt.as_deref(),
                r.max_turns,
                r.max_diff_tokens,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("review", Some("Be strict."), 4, 12_000),
            ("review-2", None, 2, 12_000)
        ]
    );
    let mut out = String::new();
    for (what, table) in [
        ("unknown linter", "[gates.health]\nlint = [\"eslint\"]"),
        (
            "threshold without linter",
            "[gates.health]\nmax_new_lint_warnings = 0",
        ),
        (
            "threshold without analyser",
            "[gates.health]\nduplication = false\nmax_duplication_increase_lines = 0",
        ),
        (
            "coverage without command",
            "[gates.health]\nmax_coverage_decrease = 1.5",
        ),
        ("reviewer without model", "[[gates.review]]\nmax_turns = 2"),
        (
            "reviewer prompt missing",
            "[[gates.review]]\nmodel = \"gpt\"\nprompt_file = \"nope.md\"",
        ),
        (
            "two reviewers one name",
            "[[gates.review]]\nmodel = \"gpt\"\n\n[[gates.review]]\nmodel = \"gpt\"\nname = \"review\"",
        ),
        ("bad frozen glob", "[gates.api]\nfrozen = [\"src/[api\"]"),
        (
            "secrets rules missing",
            "[gates.secrets]\nrules = \"leaks.toml\"",
        ),
    ] {
        let err = f.parse(&format!("{GOOD}\n{table}\n")).expect_err(what);
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out);
}
