//! The defaults are declared once: the schema publishes what the parser applies, and the
//! scaffold `nightshift init` writes spells out the same values.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Fleet, MINIMAL};

/// Every `"default"` in the schema, by dotted key.
fn schema_defaults() -> BTreeMap<String, Value> {
    let schema = nightshift_spec::shift_schema();
    let mut out = BTreeMap::new();
    collect(&schema, &schema, "", &mut out);
    out
}

/// Follow a `$ref`, or the non-null branch of an `anyOf`, to the schema of a table.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    if let Some(r) = node["$ref"].as_str() {
        let name = r.trim_start_matches("#/$defs/");
        return resolve(root, &root["$defs"][name]);
    }
    if let Some(branches) = node["anyOf"].as_array()
        && let Some(table) = branches.iter().find(|b| b.get("$ref").is_some())
    {
        return resolve(root, table);
    }
    node
}

fn collect(root: &Value, node: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    let Some(props) = resolve(root, node)["properties"].as_object() else {
        return;
    };
    for (key, prop) in props {
        let path = format!("{prefix}{key}");
        if let Some(d) = prop.get("default") {
            out.insert(path.clone(), d.clone());
        }
        collect(root, prop, &format!("{path}."), out);
    }
}

/// What the parser makes of each key a spec leaves out.
fn parser_defaults(f: &Fleet) -> BTreeMap<String, Value> {
    let least = f.parse(MINIMAL).expect("the minimal spec parses");
    let job = &least.jobs[0];
    let with_gate = f
        .parse(&MINIMAL.replace(
            "[budget]",
            "[gates]\ncommands = [\"make test\"]\n\n[budget]",
        ))
        .expect("a gate command parses");
    // The prompt-file rule shows only in what it refuses: a file in another folder.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let file = elsewhere.path().join("prompt.md");
    std::fs::write(&file, "Do it.").expect("write");
    let outside = MINIMAL.replace(
        "prompt = \"Do it.\"",
        &format!("prompt_file = {:?}", file.display().to_string()),
    );
    let outside_allowed = f.parse(&outside).is_ok();
    let with_health = f
        .parse(&MINIMAL.replace("[budget]", "[gates.health]\n\n[budget]"))
        .expect("an empty [gates.health] parses");
    let health = with_health.jobs[0]
        .gates
        .health
        .clone()
        .expect("health is on");
    BTreeMap::from([
        ("recipe.max_turns".into(), json!(job.max_turns)),
        ("recipe.silence_secs".into(), json!(job.silence_secs)),
        ("recipe.prompt_file_outside".into(), json!(outside_allowed)),
        (
            "gates.timeout_secs".into(),
            json!(with_gate.jobs[0].gates.commands[0].timeout_secs),
        ),
        (
            "gates.policy.allow_test_changes".into(),
            json!(job.gates.policy.allow_test_changes),
        ),
        (
            "gates.secrets.enabled".into(),
            json!(job.gates.secrets.enabled),
        ),
        ("gates.health.complexity".into(), json!(health.complexity)),
        ("gates.health.duplication".into(), json!(health.duplication)),
        ("gates.health.tests".into(), json!(health.tests)),
        (
            "stop.max_iterations".into(),
            json!(least.stop.max_iterations),
        ),
        (
            "stop.stall_iterations".into(),
            json!(least.stop.stall_iterations),
        ),
        ("run.concurrency".into(), json!(least.concurrency)),
        ("landing.branch".into(), json!(least.branch_template)),
        ("landing.draft".into(), json!(least.landing.draft)),
        (
            "landing.ci_fix_iterations".into(),
            json!(least.landing.ci_fix_iterations),
        ),
        (
            "landing.review_fix_iterations".into(),
            json!(least.landing.review_fix_iterations),
        ),
        (
            "landing.conflict_fix_iterations".into(),
            json!(least.landing.conflict_fix_iterations),
        ),
        (
            "landing.ci_timeout_minutes".into(),
            json!(least.landing.ci_timeout_ms as f64 / 60_000.0),
        ),
        (
            "landing.ci_poll_secs".into(),
            json!(least.landing.ci_poll_ms as f64 / 1000.0),
        ),
        (
            "landing.checks_grace_secs".into(),
            json!(least.landing.checks_grace_ms as f64 / 1000.0),
        ),
        ("sandbox.mode".into(), json!(least.sandbox.mode)),
        ("sandbox.network".into(), json!(least.sandbox.network)),
        ("sandbox.processes".into(), json!(least.sandbox.processes)),
        ("sandbox.memory_mb".into(), json!(least.sandbox.memory_mb)),
        ("sandbox.file_mb".into(), json!(least.sandbox.file_mb)),
        ("sandbox.tmp_mb".into(), json!(least.sandbox.tmp_mb)),
        ("sandbox.disk_mb".into(), json!(least.sandbox.disk_mb)),
        ("line.defect_window".into(), json!(least.line.defect_window)),
        (
            "line.spend_window_minutes".into(),
            json!(least.line.spend_window_minutes),
        ),
    ])
}

#[test]
fn the_schemas_defaults_are_the_parsers() {
    let f = Fleet::new();
    assert_eq!(schema_defaults(), parser_defaults(&f));
    // And they are the values the docs promise.
    assert_eq!(
        schema_defaults(),
        BTreeMap::from([
            ("gates.health.complexity".into(), json!(true)),
            ("gates.health.duplication".into(), json!(true)),
            ("gates.health.tests".into(), json!(true)),
            ("gates.policy.allow_test_changes".into(), json!(false)),
            ("gates.secrets.enabled".into(), json!(true)),
            ("gates.timeout_secs".into(), json!(600)),
            ("line.defect_window".into(), json!(10)),
            ("line.spend_window_minutes".into(), json!(15)),
            ("landing.branch".into(), json!("nightshift/{shift}/{job}")),
            ("landing.checks_grace_secs".into(), json!(120.0)),
            ("landing.ci_fix_iterations".into(), json!(2)),
            ("landing.ci_poll_secs".into(), json!(5.0)),
            ("landing.ci_timeout_minutes".into(), json!(30.0)),
            ("landing.conflict_fix_iterations".into(), json!(1)),
            ("landing.draft".into(), json!(false)),
            ("landing.review_fix_iterations".into(), json!(0)),
            ("recipe.max_turns".into(), json!(40)),
            ("recipe.prompt_file_outside".into(), json!(false)),
            ("recipe.silence_secs".into(), json!(300)),
            ("run.concurrency".into(), json!(4)),
            ("sandbox.disk_mb".into(), json!(20480)),
            ("sandbox.file_mb".into(), json!(1024)),
            ("sandbox.memory_mb".into(), json!(4096)),
            ("sandbox.mode".into(), json!("on")),
            ("sandbox.network".into(), json!("gateway")),
            ("sandbox.processes".into(), json!(512)),
            ("sandbox.tmp_mb".into(), json!(1024)),
            ("stop.max_iterations".into(), json!(10)),
            ("stop.stall_iterations".into(), json!(3)),
        ])
    );
}

#[test]
fn the_scaffold_parses_and_spells_out_the_defaults() {
    let f = Fleet::new();
    let text = nightshift_spec::scaffold("least", &["other/tool".to_string()], "gpt");
    let scaffold = f.parse(&text).expect("the scaffold parses");
    let least = f.parse(MINIMAL).expect("the minimal spec parses");
    // Everything but the prompt and the budget is the minimal spec's: the scaffold writes
    // the defaults, no other values.
    assert_eq!(scaffold.stop, least.stop);
    assert_eq!(scaffold.sandbox, least.sandbox);
    assert_eq!(scaffold.landing, least.landing);
    assert_eq!(scaffold.line, least.line);
    assert_eq!(
        (scaffold.concurrency, &scaffold.branch_template),
        (least.concurrency, &least.branch_template)
    );
    let (s, l) = (&scaffold.jobs[0], &least.jobs[0]);
    assert_eq!(
        (s.max_turns, s.silence_secs, &s.gates, s.max_iterations),
        (l.max_turns, l.silence_secs, &l.gates, l.max_iterations)
    );
    for (key, value) in schema_defaults() {
        // The agent CLIs' silence and the prompt-file rule are left out of the scaffold,
        // which uses the built-in worker and a prompt written out.
        if ["recipe.silence_secs", "recipe.prompt_file_outside"].contains(&key.as_str()) {
            continue;
        }
        let leaf = key.rsplit('.').next().unwrap_or(&key);
        let written = format!("{leaf} = {value}");
        assert!(text.contains(&written), "the scaffold writes `{written}`");
    }
}
