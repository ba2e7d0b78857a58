//! The `api` gate: frozen paths, declarations, a crate's `pub` items, a module's exports.

use nightshift_gates::api::{Breach, Walls, breaches, check};
use nightshift_gates::{ChangeStatus, FileChange};

use super::{assert_fails, assert_passes, change};

const LIB: &str = "pub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n\npub struct Config {\n    pub name: String,\n}\n\nfn helper() {}\n";

fn frozen(items: &[&str]) -> Walls {
    Walls::from_frozen(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
}

#[test]
fn frozen_entries_are_symbols_when_they_have_words_and_paths_otherwise() {
    let w = frozen(&["src/api/**", "pub fn parse"]);
    assert_eq!(w.paths, ["src/api/**"]);
    assert_eq!(w.symbols, ["pub fn parse"]);
}

#[test]
fn removing_a_frozen_function_is_a_defect_naming_it() {
    let c = change(vec![FileChange::modified(
        "src/lib.rs",
        LIB,
        LIB.replace(
            "pub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n",
            "",
        ),
    )]);
    let r = check(&frozen(&["pub fn parse"]), &c).unwrap();
    assert_fails(
        &r,
        "the change removes 1 frozen public item (first: `pub fn parse(s: &str) -> u32` in src/lib.rs): the recipe's `[gates.api]` keeps the repository's clients working — keep the item as it was, adding new items beside it instead",
    );
    assert_eq!(
        r.excerpt,
        "src/lib.rs: removed `pub fn parse(s: &str) -> u32`"
    );
}

#[test]
fn a_changed_signature_is_altered_and_a_changed_body_is_not() {
    let altered = change(vec![FileChange::modified(
        "src/lib.rs",
        LIB,
        LIB.replace("parse(s: &str) -> u32", "parse(s: &str, base: u32) -> u32"),
    )]);
    assert_eq!(
        breaches(&frozen(&["pub fn parse"]), &altered).unwrap(),
        vec![Breach {
            path: "src/lib.rs".into(),
            item: "pub fn parse(s: &str) -> u32".into(),
            now: Some("pub fn parse(s: &str, base: u32) -> u32".into()),
        }]
    );
    let body = change(vec![FileChange::modified(
        "src/lib.rs",
        LIB,
        LIB.replace(
            "s.len() as u32",
            "u32::try_from(s.len()).unwrap_or(u32::MAX)",
        ),
    )]);
    assert_passes(
        &check(&frozen(&["pub fn parse"]), &body).unwrap(),
        "no frozen public item was removed or altered",
    );
}

#[test]
fn an_item_moved_to_another_changed_file_keeps_the_wall() {
    let c = change(vec![
        FileChange::modified(
            "src/lib.rs",
            LIB,
            LIB.replace(
                "pub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n",
                "mod parse;\npub use parse::*;\n",
            ),
        ),
        FileChange::added(
            "src/parse.rs",
            "pub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n",
        ),
    ]);
    assert!(check(&frozen(&["pub fn parse"]), &c).unwrap().passed);
}

#[test]
fn every_pub_item_of_a_crate_with_rust_public_items() {
    let walls = Walls {
        rust_public_items: true,
        ..Walls::default()
    };
    let c = change(vec![FileChange::modified(
        "src/lib.rs",
        LIB,
        LIB.replace("    pub name: String,\n", "    name: String,\n")
            .replace("fn helper() {}", "fn helper2() {}"),
    )]);
    let r = check(&walls, &c).unwrap();
    assert!(!r.passed);
    assert_eq!(r.excerpt, "src/lib.rs: removed `pub name: String`");
    // Tests are no part of the surface.
    let tests = change(vec![FileChange::modified(
        "tests/it.rs",
        "pub fn fixture() {}\n",
        "",
    )]);
    assert!(check(&walls, &tests).unwrap().passed);
}

#[test]
fn a_frozen_path_may_grow_but_not_change() {
    let walls = frozen(&["src/api/**"]);
    let added = change(vec![FileChange::added("src/api/v2.rs", "pub fn v2() {}\n")]);
    assert!(check(&walls, &added).unwrap().passed);
    let changed = change(vec![FileChange::modified(
        "src/api/v1.rs",
        "pub fn v1() {}\n",
        "pub fn v1() -> u8 { 1 }\n",
    )]);
    let r = check(&walls, &changed).unwrap();
    assert_eq!(
        r.excerpt,
        "src/api/v1.rs: altered `the frozen file src/api/v1.rs` (now `its content changed`)"
    );
    let moved = change(vec![FileChange {
        status: ChangeStatus::Renamed {
            from: "src/api/v1.rs".into(),
        },
        ..FileChange::added("src/v1.rs", "pub fn v1() {}\n")
    }]);
    assert!(!check(&walls, &moved).unwrap().passed);
}

#[test]
fn a_python_modules_exports_are_frozen() {
    let walls = Walls {
        python_modules: vec!["calc.py".into()],
        ..Walls::default()
    };
    let old = "def add(a, b):\n    return a + b\n\ndef _helper():\n    pass\n\nLIMIT = 10\n";
    let renamed = change(vec![FileChange::modified(
        "calc.py",
        old,
        old.replace("def add(a, b)", "def add(a, b, c=0)"),
    )]);
    assert_eq!(
        breaches(&walls, &renamed).unwrap(),
        vec![Breach {
            path: "calc.py".into(),
            item: "def add(a, b)".into(),
            now: Some("def add(a, b, c=0)".into()),
        }]
    );
    let private = change(vec![FileChange::modified(
        "calc.py",
        old,
        old.replace("_helper", "_other"),
    )]);
    assert!(check(&walls, &private).unwrap().passed);
    let all = "__all__ = [\"add\", \"sub\"]\n";
    let dropped = change(vec![FileChange::modified(
        "calc.py",
        all,
        "__all__ = [\"add\"]\n",
    )]);
    assert_eq!(breaches(&walls, &dropped).unwrap()[0].item, "__all__ sub");
    // Another module is not walled.
    let other = change(vec![FileChange::modified("util.py", old, "")]);
    assert!(check(&walls, &other).unwrap().passed);
}
