//! Bugs a new user and a red-team pass found in the shift spec, each pinned by the test
//! named after it.

use super::{Fleet, GOOD, MINIMAL};

/// Each case: what it is, the text replaced in `base`, what replaces it.
fn errors(f: &Fleet, base: &str, cases: &[(&str, &str, &str)]) -> String {
    let mut out = String::new();
    for (what, from, to) in cases {
        out.push_str(&format!("{what}:\n  {}\n", f.error_with(base, from, to)));
    }
    out
}

/// A bad glob in the policy was reported at line 1 (the offset of nothing), and one in
/// `fleet.repos` must stay at the glob's own string.
#[test]
fn a_bad_glob_is_reported_where_it_is_written() {
    let f = Fleet::new();
    let out = errors(
        &f,
        GOOD,
        &[
            (
                "fleet glob",
                "\"other/tool\"]",
                "\"other/tool\", \"other/[tool\"]",
            ),
            (
                "test glob",
                "[stop]",
                "[gates.policy]\ntest_globs = [\"tests/**\", \"src/[a\"]\n\n[stop]",
            ),
            (
                "protected path",
                "[stop]",
                "[gates.policy]\nprotected_paths = [\".github/**\", \"[z-a]\"]\n\n[stop]",
            ),
        ],
    );
    insta::assert_snapshot!(out, @r#"
    fleet glob:
      [TMP]/shift.toml:4:35: bad glob `[tool`: error parsing glob '[tool': unclosed character class; missing ']' (key `fleet.repos`)
    test glob:
      [TMP]/shift.toml:20:27: bad glob `src/[a`: error parsing glob 'src/[a': unclosed character class; missing ']' (key `gates.policy.test_globs`)
    protected path:
      [TMP]/shift.toml:20:34: bad glob `[z-a]`: error parsing glob '[z-a]': invalid range; 'z' > 'a' (key `gates.policy.protected_paths`)
    "#);
}

/// A bad `landing.branch` pointed at the first `branch` anywhere in the file (here, in the
/// prompt).
#[test]
fn a_bad_landing_branch_points_at_landing_branch() {
    let f = Fleet::new();
    let text =
        MINIMAL.replace("Do it.", "Work on a branch.") + "\n[landing]\nbranch = \"main/{job}\"\n";
    insta::assert_snapshot!(f.parse(&text).expect_err("refused"), @r#"
    [TMP]/shift.toml:16:10: `main/{job}` must start with `nightshift/` and contain `{job}` (key `landing.branch`)
    "#);
}

/// Type errors and missing keys named no key; a missing `worker` not even its table.
#[test]
fn type_errors_and_missing_keys_name_their_dotted_key() {
    let f = Fleet::new();
    let out = errors(
        &f,
        GOOD,
        &[
            (
                "string for an integer",
                "[stop]",
                "[gates.policy]\nmax_changed_lines = \"many\"\n\n[stop]",
            ),
            (
                "negative count",
                "max_iterations = 5",
                "max_iterations = -1",
            ),
            ("missing worker", "worker = \"builtin\"\n", ""),
            ("missing model", "model = \"gpt\"\n", ""),
            ("missing override repo", "repo = \"tool\"\n", ""),
            ("missing budget key", "job_usd = \"2.50\"\n", ""),
            ("missing name", "name = \"coverage\"\n", ""),
            (
                "gate command of the wrong type",
                "commands = [\"cargo test --quiet\", ",
                "commands = [7, ",
            ),
            (
                "unknown key in a gate command",
                "timeout_secs = 30 }",
                "timeot_secs = 30 }",
            ),
            ("gate command without run", "run = \"cargo clippy\", ", ""),
            (
                "dollar amount of the wrong type",
                "shift_usd = 10",
                "shift_usd = true",
            ),
        ],
    );
    // Tables written inline or with dotted keys, and a value where a table belongs, at the
    // top of the minimal spec.
    let top = "name = \"least\"\n";
    let recipe = "[recipe]\nprompt = \"Do it.\"\nworker = \"builtin\"\nmodel = \"gpt\"\n";
    let at_top = |extra: &str, without: &str| {
        let text = MINIMAL
            .replace(without, "")
            .replace(top, &format!("{top}{extra}"));
        f.parse(&text).expect_err(extra)
    };
    let cases = [
        ("integer for a table", at_top("gates = 5\n", "")),
        (
            "missing worker, inline",
            at_top("recipe = { prompt = \"p\", model = \"gpt\" }\n", recipe),
        ),
        (
            "missing worker, dotted",
            at_top("recipe.prompt = \"p\"\nrecipe.model = \"gpt\"\n", recipe),
        ),
    ];
    let mut out = out;
    for (what, err) in cases {
        out.push_str(&format!("{what}:\n  {err}\n"));
    }
    insta::assert_snapshot!(out, @r#"
    string for an integer:
      [TMP]/shift.toml:20:21: invalid type: string "many", expected u64 (key `gates.policy.max_changed_lines`)
    negative count:
      [TMP]/shift.toml:20:18: invalid value: integer `-1`, expected u32 (key `stop.max_iterations`)
    missing worker:
      [TMP]/shift.toml:11:1: the recipe needs a `worker`: builtin, command, codex, claude-code or opencode (key `recipe.worker`)
    missing model:
      [TMP]/shift.toml:11:1: the recipe needs a `model`: a [[model]] name of nightshift.toml (key `recipe.model`)
    missing override repo:
      [TMP]/shift.toml:6:1: an override needs `repo`, the job name (the repository's folder name) it applies to (key `fleet.override.repo`)
    missing budget key:
      [TMP]/shift.toml:22:1: the budget needs `job_usd`, each job's budget in dollars (key `budget.job_usd`)
    missing name:
      [TMP]/shift.toml:1:1: the spec has no `name`: add one such as `name = "raise-coverage"` (letters, digits, `-` and `_`) (key `name`)
    gate command of the wrong type:
      [TMP]/shift.toml:17:13: invalid type: integer `7`, expected a command line (a string) or a table such as { name = "tests", run = "make test", timeout_secs = 900 } (key `gates.commands`)
    unknown key in a gate command:
      [TMP]/shift.toml:17:74: unknown field `timeot_secs`, expected one of `name`, `run`, `timeout_secs` (key `gates.commands.timeot_secs`)
    gate command without run:
      [TMP]/shift.toml:17:35: missing field `run` (key `gates.commands.run`)
    dollar amount of the wrong type:
      [TMP]/shift.toml:23:13: invalid type: boolean `true`, expected a dollar amount: a number (2.5) or a string ("2.50") (key `budget.shift_usd`)
    integer for a table:
      [TMP]/shift.toml:2:9: invalid type: integer `5`, expected a table (key `gates`)
    missing worker, inline:
      [TMP]/shift.toml:2:10: the recipe needs a `worker`: builtin, command, codex, claude-code or opencode (key `recipe.worker`)
    missing worker, dotted:
      [TMP]/shift.toml:2:1: the recipe needs a `worker`: builtin, command, codex, claude-code or opencode (key `recipe.worker`)
    "#);
}

/// Zero (and the like) was accepted where it means nothing: a gate with no time, a job
/// with no turns.
#[test]
fn meaningless_zeros_are_refused_with_the_smallest_valid_value() {
    let f = Fleet::new();
    let out = errors(
        &f,
        GOOD,
        &[
            (
                "gates.timeout_secs",
                "timeout_secs = 30 }]\n",
                "timeout_secs = 30 }]\ntimeout_secs = 0\n",
            ),
            (
                "a gate's own timeout",
                "timeout_secs = 30 }",
                "timeout_secs = 0 }",
            ),
            (
                "done-check timeout",
                "[stop]",
                "done_check = { run = \"true\", timeout_secs = 0 }\n\n[stop]",
            ),
            (
                "override gate timeout",
                "max_iterations = 2\n",
                "max_iterations = 2\ngate_commands = [{ run = \"x\", timeout_secs = 0 }]\n",
            ),
            (
                "override iterations",
                "max_iterations = 2\n",
                "max_iterations = 0\n",
            ),
            (
                "max_turns",
                "model = \"gpt\"\n",
                "model = \"gpt\"\nmax_turns = 0\n",
            ),
            (
                "stall_iterations",
                "max_iterations = 5",
                "max_iterations = 5\nstall_iterations = 0",
            ),
            (
                "concurrency",
                "[budget]",
                "[run]\nconcurrency = 0\n\n[budget]",
            ),
            (
                "max_changed_lines",
                "[stop]",
                "[gates.policy]\nmax_changed_lines = 0\n\n[stop]",
            ),
            (
                "empty override prompt",
                "max_iterations = 2\n",
                "max_iterations = 2\nprompt = \" \"\n",
            ),
        ],
    );
    insta::assert_snapshot!(out, @r#"
    gates.timeout_secs:
      [TMP]/shift.toml:18:16: must be at least 1 (key `gates.timeout_secs`)
    a gate's own timeout:
      [TMP]/shift.toml:17:89: must be at least 1 (key `gates.commands.timeout_secs`)
    done-check timeout:
      [TMP]/shift.toml:19:45: must be at least 1 (key `gates.done_check.timeout_secs`)
    override gate timeout:
      [TMP]/shift.toml:10:46: must be at least 1 (key `fleet.override.gate_commands.timeout_secs`)
    override iterations:
      [TMP]/shift.toml:9:18: must be at least 1 (key `fleet.override.max_iterations`)
    max_turns:
      [TMP]/shift.toml:15:13: must be at least 1 (key `recipe.max_turns`)
    stall_iterations:
      [TMP]/shift.toml:21:20: must be at least 1 (key `stop.stall_iterations`)
    concurrency:
      [TMP]/shift.toml:23:15: must be at least 1 (key `run.concurrency`)
    max_changed_lines:
      [TMP]/shift.toml:20:21: must be at least 1 (key `gates.policy.max_changed_lines`)
    empty override prompt:
      [TMP]/shift.toml:10:10: the prompt is empty (key `fleet.override.prompt`)
    "#);
}

/// `recipe.prompt_file` read any path: `/etc/shadow` was read and sent to a model provider.
/// It must now resolve (`..` and symbolic links) inside the spec's folder, unless the spec
/// says `prompt_file_outside = true`.
#[test]
fn a_prompt_file_outside_the_specs_folder_is_refused_unless_allowed() {
    let f = Fleet::new();
    // A folder beside the spec's, so that `..` can reach it.
    let elsewhere = tempfile::tempdir_in(f.path().parent().expect("a parent")).expect("tempdir");
    let sibling = elsewhere
        .path()
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let secret = elsewhere.path().join("secret.md");
    std::fs::write(&secret, "Do the secret thing.").expect("write");
    std::fs::create_dir_all(f.path().join("prompts")).expect("mkdir");
    std::fs::write(f.path().join("prompts/inside.md"), "Do it from a file.").expect("write");
    std::os::unix::fs::symlink(&secret, f.path().join("prompts/link.md")).expect("symlink");
    let with_file =
        |file: &str| MINIMAL.replace("prompt = \"Do it.\"", &format!("prompt_file = {file:?}"));
    let secret_text = secret.display().to_string();
    let mut out = String::new();
    let up = format!("../{sibling}/secret.md");
    let up_and_down = format!("prompts/../../{sibling}/secret.md");
    for file in [secret_text.as_str(), &up, &up_and_down, "prompts/link.md"] {
        let err = f.parse(&with_file(file)).expect_err(file);
        out.push_str(&format!("{file}:\n  {err}\n"));
    }
    let stray = MINIMAL.replace(
        "model = \"gpt\"",
        "model = \"gpt\"\nprompt_file_outside = true",
    );
    out.push_str(&format!(
        "flag without a file:\n  {}\n",
        f.parse(&stray).expect_err("stray flag")
    ));
    let out = out
        .replace(&elsewhere.path().display().to_string(), "[ELSEWHERE]")
        .replace(&sibling, "[SIBLING]");
    insta::assert_snapshot!(out, @r#"
    [ELSEWHERE]/secret.md:
      [TMP]/shift.toml:7:15: prompt file `[ELSEWHERE]/secret.md` is [ELSEWHERE]/secret.md, outside the spec's folder [TMP]: move it into that folder, or set `prompt_file_outside = true` in [recipe] to send it to the model anyway (key `recipe.prompt_file`)
    ../[SIBLING]/secret.md:
      [TMP]/shift.toml:7:15: prompt file `../[SIBLING]/secret.md` is [ELSEWHERE]/secret.md, outside the spec's folder [TMP]: move it into that folder, or set `prompt_file_outside = true` in [recipe] to send it to the model anyway (key `recipe.prompt_file`)
    prompts/../../[SIBLING]/secret.md:
      [TMP]/shift.toml:7:15: prompt file `prompts/../../[SIBLING]/secret.md` is [ELSEWHERE]/secret.md, outside the spec's folder [TMP]: move it into that folder, or set `prompt_file_outside = true` in [recipe] to send it to the model anyway (key `recipe.prompt_file`)
    prompts/link.md:
      [TMP]/shift.toml:7:15: prompt file `prompts/link.md` is [ELSEWHERE]/secret.md, outside the spec's folder [TMP]: move it into that folder, or set `prompt_file_outside = true` in [recipe] to send it to the model anyway (key `recipe.prompt_file`)
    flag without a file:
      [TMP]/shift.toml:10:23: `prompt_file_outside` only applies to a `prompt_file`; remove it (key `recipe.prompt_file_outside`)
    "#);

    let inside = f
        .parse(&with_file("prompts/inside.md"))
        .expect("inside the folder");
    assert_eq!(inside.jobs[0].prompt, "Do it from a file.");
    let allowed = with_file("prompts/link.md").replace(
        "model = \"gpt\"",
        "model = \"gpt\"\nprompt_file_outside = true",
    );
    let allowed = f.parse(&allowed).expect("allowed outside");
    assert_eq!(allowed.jobs[0].prompt, "Do the secret thing.");
}

/// `gates.policy.allow_test_changes`: off unless written, and passed on when written.
#[test]
fn allow_test_changes_is_parsed() {
    let f = Fleet::new();
    let off = f.parse(MINIMAL).expect("valid");
    let on = f
        .parse(&MINIMAL.replace(
            "[budget]",
            "[gates.policy]\nallow_test_changes = true\n\n[budget]",
        ))
        .expect("valid");
    let policy = |s: &nightshift_spec::ShiftSpec| s.jobs[0].gates.policy.clone();
    assert_eq!(policy(&off), nightshift_spec::PolicySpec::default());
    assert_eq!(
        policy(&on),
        nightshift_spec::PolicySpec {
            allow_test_changes: true,
            ..Default::default()
        }
    );
}

/// The spec's own folder was read as a glob too: in a folder named `team [a]`, `repos/*`
/// matched nothing.
#[test]
fn a_folder_name_with_glob_characters_is_not_a_glob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("team [a] {b}");
    super::git_repo(&home.join("repos/billing"));
    let path = home.join("shift.toml");
    std::fs::write(&path, MINIMAL.replace("other/tool", "repos/*")).expect("write");
    let spec = nightshift_spec::ShiftSpec::load(&path).expect("valid");
    let sources: Vec<_> = spec.jobs.iter().map(|j| j.source.clone()).collect();
    assert_eq!(sources, [home.join("repos/billing").display().to_string()]);
}

/// A job's model that the configuration does not have was reported by the factory with no
/// line; `check_models` points at the key that named it.
#[test]
fn an_unconfigured_model_is_reported_at_the_key_that_named_it() {
    let f = Fleet::new();
    let config = f
        .config(
            "[[provider]]\nname = \"up\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n[[model]]\nname = \"gpt\"\nprovider = \"up\"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n\n[[model]]\nname = \"mini\"\nprovider = \"up\"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n",
        )
        .expect("valid config");
    let clean = |e: nightshift_spec::SpecError| {
        e.to_string()
            .replace(&f.path().display().to_string(), "[TMP]")
    };
    let good = f.parse(GOOD).expect("valid");
    assert!(
        good.check_models(&config).is_ok(),
        "every job's model is configured"
    );
    let recipe = f
        .parse(&GOOD.replace("model = \"gpt\"", "model = \"gtp\""))
        .expect("valid");
    let by_override = f
        .parse(&GOOD.replace(
            "max_iterations = 2\n",
            "max_iterations = 2\nmodel = \"large\"\n",
        ))
        .expect("valid");
    let out = format!(
        "recipe:\n  {}\noverride:\n  {}\n",
        clean(recipe.check_models(&config).expect_err("gtp")),
        clean(by_override.check_models(&config).expect_err("large")),
    );
    insta::assert_snapshot!(out, @r#"
    recipe:
      [TMP]/shift.toml:14:9: job `billing` asks for model `gtp`, which [TMP]/nightshift.toml does not configure (configured: `gpt`, `mini`); add a [[model]] named `gtp` there or name one it has (key `recipe.model`)
    override:
      [TMP]/shift.toml:10:9: job `tool` asks for model `large`, which [TMP]/nightshift.toml does not configure (configured: `gpt`, `mini`); add a [[model]] named `large` there or name one it has (key `fleet.override.model`)
    "#);
}
