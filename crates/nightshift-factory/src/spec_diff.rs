//! What differs between the spec a shift was started with and a spec run under its name.

use serde_json::Value;

/// The dotted paths (`jobs[1].max_iterations`, `stop.stall_iterations`) where `new`
/// differs from `stored`; only the spec file's own path (`file`: a spec may move) is
/// ignored. A setting added by a later version serializes only when it is not at its
/// default (AGENTS.md), so a shift started before it existed compares equal unless the new
/// spec sets it.
pub(crate) fn differences(stored: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", stored, new, &mut out);
    out
}

fn walk(path: &str, stored: &Value, new: &Value, out: &mut Vec<String>) {
    match (stored, new) {
        (Value::Object(a), Value::Object(b)) => {
            // The stored spec's keys in their order, then the new spec's own.
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for k in keys {
                if path.is_empty() && k == "file" {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(va), Some(vb)) => walk(&p, va, vb, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        (a, b) if a == b => {}
        _ => out.push(if path.is_empty() {
            "(the whole spec)".into()
        } else {
            path.to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::differences;

    #[test]
    fn differences_are_named_by_their_paths() {
        let stored = json!({"file": "/a/shift.toml", "name": "s", "stop": {"max_iterations": 3}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}]});
        let cases = [
            (
                "the same spec",
                json!({"file": "/a/shift.toml", "name": "s", "stop": {"max_iterations": 3}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}]}),
                vec![],
            ),
            (
                "moved, not changed",
                json!({"file": "/b/shift.toml", "name": "s", "stop": {"max_iterations": 3}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}]}),
                vec![],
            ),
            (
                "a setting the stored spec did not have",
                json!({"file": "/a/shift.toml", "name": "s", "stop": {"max_iterations": 3, "new": 1}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}]}),
                vec!["stop.new"],
            ),
            (
                "a setting the new spec does not have",
                json!({"file": "/a/shift.toml", "name": "s", "stop": {}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}]}),
                vec!["stop.max_iterations"],
            ),
            (
                "an edited recipe and a stop rule",
                json!({"file": "/a/shift.toml", "name": "s", "stop": {"max_iterations": 5}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "q"}]}),
                vec!["stop.max_iterations", "jobs[1].prompt"],
            ),
            (
                "a repository added to the fleet",
                json!({"file": "/a/shift.toml", "name": "s", "stop": {"max_iterations": 3}, "jobs": [{"name": "a", "prompt": "p"}, {"name": "b", "prompt": "p"}, {"name": "c", "prompt": "p"}]}),
                vec!["jobs"],
            ),
        ];
        for (name, new, want) in cases {
            assert_eq!(differences(&stored, &new), want, "{name}");
        }
    }
}
