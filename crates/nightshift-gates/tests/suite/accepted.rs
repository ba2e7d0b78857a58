//! Changes to test files that `tests-intact` must keep accepting: assertions moved, added or
//! reformatted, tests added, and files that are not tests. And [`modified_test_files`], the
//! files whose base version the factory runs against the change.

use nightshift_gates::{Change, FileChange, GateResult, Policy, PolicyError, modified_test_files};

use super::weakened::{JEST, PYTEST, RUST, UNITTEST};
use super::{change, tests_intact, timeless};

const GATE: &str = "tests-intact";

fn passed(detail: &str) -> GateResult {
    tests_intact(true, detail, "")
}

/// Each new text of `path` passes, with nothing to review, whether or not the policy allows
/// test changes.
#[track_caller]
fn assert_accepted(path: &str, old: &str, cases: Vec<(&str, String)>) {
    let allow = Policy {
        allow_test_changes: true,
        ..Policy::default()
    };
    for (what, new) in cases {
        assert_ne!(new, old, "{what}: the case changes nothing");
        let c = change(vec![FileChange::modified(path, old, new)]);
        let expected = passed("no tests deleted or weakened in 1 changed test file");
        assert_eq!(timeless(&Policy::default(), &c, GATE), expected, "{what}");
        assert_eq!(timeless(&allow, &c, GATE), expected, "{what} (allowed)");
    }
}

#[test]
fn unittest_moves_additions_and_reformatting_pass() {
    let add = "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n";
    let negative = "    def test_negative(self):\n        self.assertEqual(add(-1, 1), 0)\n";
    let swapped = UNITTEST
        .replace(add, "ADD")
        .replace(negative, add)
        .replace("ADD", negative);
    assert_accepted(
        "tests/test_math.py",
        UNITTEST,
        vec![
            ("tests swapped", swapped),
            (
                "assertions swapped between tests",
                UNITTEST
                    .replace("add(2, 2), 4", "X")
                    .replace("add(-1, 1), 0", "add(2, 2), 4")
                    .replace("X", "add(-1, 1), 0"),
            ),
            (
                "assertion added",
                UNITTEST.replace("4)\n", "4)\n        self.assertEqual(add(0, 0), 0)\n"),
            ),
            (
                "test added",
                format!(
                    "{UNITTEST}\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
                ),
            ),
            (
                "reformatted by black",
                UNITTEST.replace(
                    "self.assertEqual(add(2, 2), 4)",
                    "self.assertEqual(\n            add(2, 2),\n            4,\n        )",
                ),
            ),
        ],
    );
}

#[test]
fn pytest_moves_additions_and_reformatting_pass() {
    assert_accepted(
        "tests/test_calc.py",
        PYTEST,
        vec![
            (
                "assertion moved into the other test",
                PYTEST
                    .replace("    assert add(2, 2) == 4\n", "    pass\n")
                    .replace("0\n", "0\n    assert add(2, 2) == 4\n"),
            ),
            (
                "assertion added",
                PYTEST.replace("== 4\n", "== 4\n    assert add(0, 0) == 0\n"),
            ),
            (
                "test added",
                format!("{PYTEST}\n\ndef test_zero():\n    assert add(0, 0) == 0\n"),
            ),
            (
                "whitespace squeezed",
                PYTEST.replace("assert add(2, 2) == 4", "assert add(2,2)==4"),
            ),
            (
                "line continuation",
                PYTEST.replace("assert add(2, 2) == 4", "assert add(2, 2) == \\\n        4"),
            ),
        ],
    );
}

#[test]
fn rust_moves_additions_and_reformatting_pass() {
    let adds = "#[test]\nfn adds() {\n    assert_eq!(add(2, 2), 4);\n}\n\n";
    assert_accepted(
        "tests/calc.rs",
        RUST,
        vec![
            (
                "test moved to the end",
                format!("{}\n{}", RUST.replace(adds, ""), adds.trim_end()),
            ),
            (
                "assertion added",
                RUST.replace("4);\n", "4);\n    assert_eq!(add(0, 0), 0);\n"),
            ),
            (
                "test added",
                format!("{RUST}\n#[test]\nfn zero() {{\n    assert_eq!(add(0, 0), 0);\n}}\n"),
            ),
            (
                "reformatted by rustfmt",
                RUST.replace(
                    "assert_eq!(parse(x), Ok(3));",
                    "assert_eq!(\n        parse(x),\n        Ok(3),\n    );",
                ),
            ),
        ],
    );
}

#[test]
fn typescript_moves_additions_and_reformatting_pass() {
    assert_accepted(
        "web/src/add.test.ts",
        JEST,
        vec![
            (
                "assertions swapped between tests",
                JEST.replace("add(2, 2)).toBe(4)", "X")
                    .replace("add(-1, 1)).toBe(0)", "add(2, 2)).toBe(4)")
                    .replace("X", "add(-1, 1)).toBe(0)"),
            ),
            (
                "assertion added",
                JEST.replace("toBe(4);\n", "toBe(4);\n    expect(add(0, 0)).toBe(0);\n"),
            ),
            (
                "test added",
                JEST.replace(
                    "  });\n});\n",
                    "  });\n\n  it('adds zero', () => {\n    expect(add(0, 0)).toBe(0);\n  });\n});\n",
                ),
            ),
            (
                "chain split over lines, semicolon dropped",
                JEST.replace("expect(add(2, 2)).toBe(4);", "expect(add(2, 2))\n      .toBe(4)"),
            ),
        ],
    );
}

#[test]
fn changed_files_that_are_not_tests_pass() {
    let allow = Policy {
        allow_test_changes: true,
        ..Policy::default()
    };
    let c = change(vec![
        FileChange::modified(
            "calc.py",
            "def add(a, b):\n    assert a is not None\n    return a + b\n",
            "def add(a, b):\n    return a + b\n",
        ),
        FileChange::modified(
            "src/lib.rs",
            "pub fn add(a: u8, b: u8) -> u8 {\n    assert!(a < 100);\n    a + b\n}\n",
            "pub fn add(a: u8, b: u8) -> u8 {\n    a + b\n}\n",
        ),
        FileChange::modified(
            "web/src/add.ts",
            "export const add = (a, b) => { assert(a); return a + b; };\n",
            "export const add = (a, b) => a + b;\n",
        ),
    ]);
    for policy in [Policy::default(), allow] {
        assert_eq!(timeless(&policy, &c, GATE), passed("no test files changed"));
    }
}

#[test]
fn modified_test_files_are_the_changed_existing_ones() {
    let inline = "pub fn f() -> u8 { 1 }\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn one() { assert_eq!(super::f(), 1); }\n}\n";
    let c = Change {
        files: vec![
            FileChange::modified("tests/test_calc.py", PYTEST, PYTEST.replace("4", "5")),
            FileChange::added("tests/test_new.py", PYTEST),
            FileChange::deleted("tests/test_old.py", PYTEST),
            FileChange::renamed("tests/a.rs", "tests/b.rs", RUST, RUST.replace("3", "4")),
            FileChange::renamed("tests/c.rs", "tests/d.rs", RUST, RUST),
            FileChange::renamed(
                "web/add.test.ts",
                "web/add.ts",
                JEST,
                JEST.replace("4", "5"),
            ),
            FileChange::modified("src/util.rs", inline, inline.replace("1)", "2)")),
            FileChange::modified("calc.py", "x = 1\n", "x = 2\n"),
            FileChange {
                old_text: None,
                ..FileChange::modified("tests/test_binary.py", "", "")
            },
        ],
        ..Change::default()
    };
    let paths: Vec<(&str, &str)> = modified_test_files(&Policy::default(), &c)
        .unwrap()
        .into_iter()
        .map(|f| (f.old_path(), f.path.as_str()))
        .collect();
    // Renamed whole, the new path runs the same text; a file moved out of the globs still has
    // its old tests, which must pass.
    assert_eq!(
        paths,
        [
            ("tests/test_calc.py", "tests/test_calc.py"),
            ("tests/a.rs", "tests/b.rs"),
            ("web/add.test.ts", "web/add.ts"),
        ]
    );
    let bad = Policy {
        test_globs: vec!["tests/{a".into()],
        ..Policy::default()
    };
    let err = modified_test_files(&bad, &c).unwrap_err();
    assert!(
        matches!(&err, PolicyError::InvalidGlob { field: "test_globs", glob, .. } if glob == "tests/{a"),
        "{err}"
    );
}
