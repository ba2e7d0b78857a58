//! Regression: "a weakened test lands". An iteration replaced a failing test's real assertion
//! with one that is always true; the file still had one test and one assertion, so a gate
//! that counted them passed it. Here, for each framework, a tautology, a loosened assertion
//! and an emptied test body are each a defect, and with `allow_test_changes` they pass with
//! `review` set and the same evidence.

use nightshift_gates::{FileChange, GateResult, Policy};

use super::{change, tests_intact, timeless};

const GATE: &str = "tests-intact";

/// One weakening of a test file: the new text, and what the gate must say about it.
struct Case {
    what: &'static str,
    new: String,
    detail: &'static str,
    evidence: &'static str,
}

/// Each case fails the default policy with exactly its detail and evidence, and passes with
/// `allow_test_changes`, flagged for review, with the same evidence.
#[track_caller]
fn assert_weakened(path: &str, old: &str, cases: Vec<Case>) {
    let allow = Policy {
        allow_test_changes: true,
        ..Policy::default()
    };
    for case in cases {
        assert_ne!(case.new, old, "{}: the case changes nothing", case.what);
        let c = change(vec![FileChange::modified(path, old, case.new.as_str())]);
        let excerpt = format!("`{path}`\n{}", case.evidence);
        let failed = tests_intact(false, case.detail, &excerpt);
        assert_eq!(
            timeless(&Policy::default(), &c, GATE),
            failed,
            "{}",
            case.what
        );
        let flagged = GateResult {
            passed: true,
            detail: format!("test changes the policy allows: {}", case.detail),
            review: Some(format!(
                "`allow_test_changes` let tests be removed or weakened in `{path}`; a person should check that they still test the code before this lands"
            )),
            ..failed
        };
        assert_eq!(
            timeless(&allow, &c, GATE),
            flagged,
            "{} (allowed)",
            case.what
        );
    }
}

pub(super) const UNITTEST: &str = "import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 2), 4)

    def test_negative(self):
        self.assertEqual(add(-1, 1), 0)
";

#[test]
fn unittest_tautology_loosened_and_emptied() {
    let real = "self.assertEqual(add(2, 2), 4)";
    assert_weakened(
        "tests/test_math.py",
        UNITTEST,
        vec![
            Case {
                what: "tautology",
                new: UNITTEST.replace(real, "self.assertTrue(True)"),
                detail: "`tests/test_math.py`: 1 assertion altered in test_add",
                evidence: "- L8 self.assertEqual(add(2, 2), 4)\n+ L8 self.assertTrue(True)\n",
            },
            Case {
                what: "loosened",
                new: UNITTEST.replace(real, "self.assertIsNotNone(add(2, 2))"),
                detail: "`tests/test_math.py`: 1 assertion altered in test_add",
                evidence: "- L8 self.assertEqual(add(2, 2), 4)\n+ L8 self.assertIsNotNone(add(2, 2))\n",
            },
            Case {
                what: "emptied",
                new: UNITTEST.replace(real, "pass"),
                detail: "`tests/test_math.py`: 1 assertion removed in test_add",
                evidence: "- L8 self.assertEqual(add(2, 2), 4)\n",
            },
        ],
    );
}

pub(super) const PYTEST: &str = "from calc import add


def test_add():
    assert add(2, 2) == 4


def test_negative():
    assert add(-1, 1) == 0
";

#[test]
fn pytest_tautology_loosened_and_emptied() {
    let real = "assert add(2, 2) == 4";
    assert_weakened(
        "tests/test_calc.py",
        PYTEST,
        vec![
            Case {
                what: "tautology",
                new: PYTEST.replace(real, "assert True"),
                detail: "`tests/test_calc.py`: 1 assertion altered in test_add",
                evidence: "- L5 assert add(2, 2) == 4\n+ L5 assert True\n",
            },
            Case {
                what: "loosened",
                new: PYTEST.replace(real, "assert add(2, 2) is not None"),
                detail: "`tests/test_calc.py`: 1 assertion altered in test_add",
                evidence: "- L5 assert add(2, 2) == 4\n+ L5 assert add(2, 2) is not None\n",
            },
            Case {
                what: "emptied",
                new: PYTEST.replace(real, "pass"),
                detail: "`tests/test_calc.py`: 1 assertion removed in test_add",
                evidence: "- L5 assert add(2, 2) == 4\n",
            },
        ],
    );
}

pub(super) const RUST: &str = r#"use calc::{add, parse};

#[test]
fn adds() {
    assert_eq!(add(2, 2), 4);
}

#[test]
fn parses() {
    let x = "3";
    assert_eq!(parse(x), Ok(3));
}
"#;

#[test]
fn rust_tautology_loosened_and_emptied() {
    assert_weakened(
        "tests/calc.rs",
        RUST,
        vec![
            Case {
                what: "tautology",
                new: RUST.replace("assert_eq!(add(2, 2), 4);", "assert!(true);"),
                detail: "`tests/calc.rs`: 1 assertion altered in adds",
                evidence: "- L5 assert_eq!(add(2, 2), 4)\n+ L5 assert!(true)\n",
            },
            Case {
                what: "loosened",
                new: RUST.replace("assert_eq!(parse(x), Ok(3));", "assert!(parse(x).is_ok());"),
                detail: "`tests/calc.rs`: 1 assertion altered in parses",
                evidence: "- L11 assert_eq!(parse(x), Ok(3))\n+ L11 assert!(parse(x).is_ok())\n",
            },
            Case {
                what: "emptied",
                new: RUST.replace(
                    "fn adds() {\n    assert_eq!(add(2, 2), 4);\n}",
                    "fn adds() {}",
                ),
                detail: "`tests/calc.rs`: 1 assertion removed in adds",
                evidence: "- L5 assert_eq!(add(2, 2), 4)\n",
            },
        ],
    );
}

pub(super) const JEST: &str = "import { add } from './add';

describe('add', () => {
  it('adds', () => {
    expect(add(2, 2)).toBe(4);
  });

  it('handles negatives', () => {
    expect(add(-1, 1)).toBe(0);
  });
});
";

#[test]
fn typescript_tautology_loosened_and_emptied() {
    assert_weakened(
        "web/src/add.test.ts",
        JEST,
        vec![
            Case {
                what: "tautology",
                new: JEST.replace("expect(add(2, 2)).toBe(4)", "expect(true).toBe(true)"),
                detail: "`web/src/add.test.ts`: 1 assertion altered in adds",
                evidence: "- L5 expect(add(2, 2)).toBe(4)\n+ L5 expect(true).toBe(true)\n",
            },
            Case {
                what: "loosened",
                new: JEST.replace("toBe(4)", "toBeDefined()"),
                detail: "`web/src/add.test.ts`: 1 assertion altered in adds",
                evidence: "- L5 expect(add(2, 2)).toBe(4)\n+ L5 expect(add(2, 2)).toBeDefined()\n",
            },
            Case {
                what: "emptied",
                new: JEST.replace(
                    "it('adds', () => {\n    expect(add(2, 2)).toBe(4);\n  });",
                    "it('adds', () => {});",
                ),
                detail: "`web/src/add.test.ts`: 1 assertion removed in adds",
                evidence: "- L5 expect(add(2, 2)).toBe(4)\n",
            },
        ],
    );
}

#[test]
fn a_removed_test_is_allowed_for_review_but_a_skip_still_fails() {
    let allow = Policy {
        allow_test_changes: true,
        ..Policy::default()
    };
    let without_negative =
        PYTEST.replace("\n\ndef test_negative():\n    assert add(-1, 1) == 0\n", "");
    let skipped = JEST.replace("it('handles negatives'", "it.skip('handles negatives'");
    let c = change(vec![
        FileChange::modified("tests/test_calc.py", PYTEST, without_negative),
        FileChange::modified("web/src/add.test.ts", JEST, skipped),
    ]);
    let evidence = "`tests/test_calc.py`\n- L8 def test_negative():\n- L9 assert add(-1, 1) == 0\n\n`web/src/add.test.ts`\n- L8 it('handles negatives', () => {\n+ L8 it.skip('handles negatives', () => {\n";
    let failed = tests_intact(
        false,
        "`tests/test_calc.py`: tests went from 2 to 1 (removed: test_negative), 1 assertion removed in test_negative; `web/src/add.test.ts`: tests went from 2 to 1 (removed: handles negatives), skip/ignore markers went from 0 to 1",
        evidence,
    );
    assert_eq!(timeless(&Policy::default(), &c, GATE), failed);
    // Allowed, the removed tests go to review; the new skip still fails the gate.
    assert_eq!(
        timeless(&allow, &c, GATE),
        GateResult {
            detail: "`web/src/add.test.ts`: skip/ignore markers went from 0 to 1".into(),
            review: Some("`allow_test_changes` let tests be removed or weakened in `tests/test_calc.py`, `web/src/add.test.ts`; a person should check that they still test the code before this lands".into()),
            ..failed
        }
    );
}

#[test]
fn a_deleted_test_file_still_fails_when_test_changes_are_allowed() {
    let allow = Policy {
        allow_test_changes: true,
        ..Policy::default()
    };
    let c = change(vec![FileChange::deleted("tests/test_calc.py", PYTEST)]);
    assert_eq!(
        timeless(&allow, &c, GATE),
        tests_intact(
            false,
            "deleted test file `tests/test_calc.py` (2 tests)",
            "`tests/test_calc.py`\n- L4 def test_add():\n- L8 def test_negative():\n",
        )
    );
}
