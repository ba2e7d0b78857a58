//! The `tests-intact` gate: deleted and weakened tests, per language.

use nightshift_gates::{FileChange, Policy};

use super::{assert_fails, assert_passes, change, gate, gate_with};

const GATE: &str = "tests-intact";

const RUST_TESTS: &str = r#"use parser::parse;

#[test]
fn parses_empty() {
    assert_eq!(parse(""), None);
}

#[tokio::test]
async fn parses_number() {
    assert_eq!(parse("1"), Some(1));
    assert!(parse("2").is_some());
}
"#;

const PY_TESTS: &str = "import pytest\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_sub():\n    assert sub(2, 1) == 1\n";

#[test]
fn deleting_a_test_file_fails() {
    let c = change(vec![FileChange::deleted("tests/parser.rs", RUST_TESTS)]);
    let r = gate(&c, GATE);
    assert_fails(&r, "deleted test file `tests/parser.rs` (2 tests)");
    assert_eq!(
        r.excerpt,
        "`tests/parser.rs`\n- L3 #[test] … parses_empty\n- L8 #[tokio::test] … parses_number\n"
    );
}

#[test]
fn deleting_a_source_file_that_held_tests_fails() {
    let src = "pub fn f() -> u8 { 1 }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn one() { assert_eq!(super::f(), 1); }\n}\n";
    let c = change(vec![FileChange::deleted("src/util.rs", src)]);
    assert_fails(&gate(&c, GATE), "deleted `src/util.rs`, which held 1 test");
}

#[test]
fn deleting_other_files_passes() {
    let c = change(vec![
        FileChange::deleted("src/old.rs", "pub fn f() { assert!(true); }\n"),
        FileChange::deleted("README.md", "# x"),
    ]);
    assert_passes(&gate(&c, GATE), "no test files changed");
}

#[test]
fn removing_a_test_function_fails() {
    let new = RUST_TESTS.replace(
        "#[test]\nfn parses_empty() {\n    assert_eq!(parse(\"\"), None);\n}\n\n",
        "",
    );
    let c = change(vec![FileChange::modified(
        "tests/parser.rs",
        RUST_TESTS,
        new,
    )]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`tests/parser.rs`: tests went from 2 to 1 (removed: parses_empty), 1 assertion removed in parses_empty",
    );
    assert_eq!(
        r.excerpt,
        "`tests/parser.rs`\n- L3 #[test] … parses_empty\n- L5 assert_eq!(parse(\"\"), None)\n"
    );
}

#[test]
fn removing_an_assertion_fails() {
    let new = RUST_TESTS.replace("    assert!(parse(\"2\").is_some());\n", "");
    let c = change(vec![FileChange::modified(
        "tests/parser.rs",
        RUST_TESTS,
        new,
    )]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`tests/parser.rs`: 1 assertion removed in parses_number",
    );
    assert_eq!(
        r.excerpt,
        "`tests/parser.rs`\n- L11 assert!(parse(\"2\").is_some())\n"
    );
}

#[test]
fn commenting_out_counts_as_removing() {
    // Line comments, trailing comments and block comments are not code.
    let new = RUST_TESTS
        .replace(
            "    assert!(parse(\"2\").is_some());\n",
            "    // assert!(parse(\"2\").is_some());\n",
        )
        .replace(
            "#[test]\nfn parses_empty",
            "/*\n#[test]\n*/\nfn parses_empty",
        )
        .replace(
            "    assert_eq!(parse(\"\"), None);",
            "    let _ = 0; // assert_eq!(parse(\"\"), None);",
        );
    let c = change(vec![FileChange::modified(
        "tests/parser.rs",
        RUST_TESTS,
        new,
    )]);
    assert_fails(
        &gate(&c, GATE),
        "`tests/parser.rs`: tests went from 2 to 1 (removed: parses_empty), 2 assertions removed in parses_empty, parses_number",
    );
}

#[test]
fn comment_only_lines_do_not_make_up_for_removed_tests() {
    let new = PY_TESTS.replace(
        "def test_sub():\n    assert sub(2, 1) == 1\n",
        "# def test_sub():\n#     assert sub(2, 1) == 1\n# def test_more():\n#     assert True\n",
    );
    let c = change(vec![FileChange::modified(
        "tests/test_math.py",
        PY_TESTS,
        new,
    )]);
    assert_fails(
        &gate(&c, GATE),
        "`tests/test_math.py`: tests went from 2 to 1 (removed: test_sub), 1 assertion removed in test_sub",
    );
}

#[test]
fn a_new_ignore_attribute_fails() {
    let new = RUST_TESTS.replace("#[test]\n", "#[test]\n#[ignore = \"flaky\"]\n");
    let c = change(vec![FileChange::modified(
        "tests/parser.rs",
        RUST_TESTS,
        new,
    )]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`tests/parser.rs`: skip/ignore markers went from 0 to 1",
    );
    assert_eq!(r.excerpt, "`tests/parser.rs`\n+ L4 #[ignore = \"flaky\"]\n");
}

#[test]
fn a_new_pytest_skip_mark_fails() {
    let new = PY_TESTS.replace(
        "def test_sub",
        "@pytest.mark.skip(reason=\"flaky\")\ndef test_sub",
    );
    let c = change(vec![FileChange::modified(
        "tests/test_math.py",
        PY_TESTS,
        new,
    )]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`tests/test_math.py`: skip/ignore markers went from 0 to 1",
    );
    assert_eq!(
        r.excerpt,
        "`tests/test_math.py`\n+ L8 @pytest.mark.skip(reason=\"flaky\")\n"
    );
}

#[test]
fn a_renamed_test_file_with_fewer_tests_fails() {
    let new = PY_TESTS.replace("\n\ndef test_sub():\n    assert sub(2, 1) == 1\n", "");
    let c = change(vec![FileChange::renamed(
        "tests/test_math.py",
        "tests/test_arith.py",
        PY_TESTS,
        new,
    )]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`tests/test_arith.py` (renamed from `tests/test_math.py`): tests went from 2 to 1 (removed: test_sub), 1 assertion removed in test_sub",
    );
    assert_eq!(
        r.excerpt,
        "`tests/test_arith.py` (renamed from `tests/test_math.py`)\n- L8 def test_sub():\n- L9 assert sub(2, 1) == 1\n"
    );
}

#[test]
fn a_test_file_renamed_whole_passes() {
    let c = change(vec![FileChange::renamed(
        "tests/test_math.py",
        "tests/test_arith.py",
        PY_TESTS,
        PY_TESTS,
    )]);
    assert_passes(
        &gate(&c, GATE),
        "no tests deleted or weakened in 1 changed test file",
    );
}

#[test]
fn moving_a_test_file_where_the_runner_does_not_look_fails() {
    let c = change(vec![FileChange::renamed(
        "tests/test_math.py",
        "scripts/math_checks.py",
        PY_TESTS,
        PY_TESTS,
    )]);
    assert_fails(
        &gate(&c, GATE),
        "`scripts/math_checks.py` (renamed from `tests/test_math.py`): moved out of the test files, so its 2 tests no longer run",
    );
}

#[test]
fn adding_tests_and_assertions_passes() {
    let more = format!(
        "{PY_TESTS}\n\ndef test_mul():\n    assert mul(2, 3) == 6\n    assert mul(0, 3) == 0\n"
    );
    let c = change(vec![
        FileChange::modified("tests/test_math.py", PY_TESTS, more),
        FileChange::added(
            "tests/test_new.py",
            "import pytest\n\n@pytest.mark.skip\ndef test_later():\n    pass\n",
        ),
    ]);
    assert_passes(
        &gate(&c, GATE),
        "no tests deleted or weakened in 1 changed test file",
    );
}

#[test]
fn inline_rust_tests_are_guarded_but_production_asserts_are_not() {
    let old = "pub fn f(x: u8) -> u8 {\n    assert!(x < 10);\n    x + 1\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::f(1), 2);\n    }\n}\n";
    // Dropping the production precondition is not this gate's business.
    let relaxed = old.replace("    assert!(x < 10);\n", "");
    let c = change(vec![FileChange::modified(
        "src/lib.rs",
        old,
        relaxed.clone(),
    )]);
    assert_passes(
        &gate(&c, GATE),
        "no tests deleted or weakened in 1 changed test file",
    );
    // Dropping the test's assertion is.
    let weakened = relaxed.replace(
        "        assert_eq!(super::f(1), 2);\n",
        "        let _ = super::f(1);\n",
    );
    let c = change(vec![FileChange::modified("src/lib.rs", old, weakened)]);
    assert_fails(&gate(&c, GATE), "`src/lib.rs`: 1 assertion removed in adds");
    // Removing the whole tests module is too.
    let gutted = old.split("#[cfg(test)]").next().unwrap().to_owned();
    let c = change(vec![FileChange::modified("src/lib.rs", old, gutted)]);
    assert_fails(
        &gate(&c, GATE),
        "`src/lib.rs`: tests went from 1 to 0 (removed: adds), 1 assertion removed in adds",
    );
}

#[test]
fn javascript_skip_and_removed_it_fail() {
    let old = "describe('math', () => {\n  it('adds', () => {\n    expect(add(1, 2)).toBe(3);\n  });\n  it('subtracts', () => {\n    expect(sub(2, 1)).toBe(1);\n  });\n});\n";
    let new = old.replace("  it('subtracts'", "  it.skip('subtracts'");
    let c = change(vec![FileChange::modified("web/src/math.test.ts", old, new)]);
    assert_fails(
        &gate(&c, GATE),
        "`web/src/math.test.ts`: tests went from 2 to 1 (removed: subtracts), skip/ignore markers went from 0 to 1",
    );
}

#[test]
fn go_skip_and_java_disabled_fail_together() {
    let go = "func TestAdd(t *testing.T) {\n\tif add(1, 2) != 3 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n";
    let go_new = go.replace("{\n\tif", "{\n\tt.Skip(\"later\")\n\tif");
    let java =
        "class MathTest {\n  @Test\n  void adds() {\n    assertEquals(3, add(1, 2));\n  }\n}\n";
    let java_new = java.replace("  @Test\n", "  @Disabled\n  @Test\n");
    let c = change(vec![
        FileChange::modified("pkg/math_test.go", go, go_new),
        FileChange::modified("src/test/java/MathTest.java", java, java_new),
    ]);
    let r = gate(&c, GATE);
    assert_fails(
        &r,
        "`pkg/math_test.go`: skip/ignore markers went from 0 to 1; `src/test/java/MathTest.java`: skip/ignore markers went from 0 to 1",
    );
    assert_eq!(
        r.excerpt,
        "`pkg/math_test.go`\n+ L2 t.Skip(\"later\")\n\n`src/test/java/MathTest.java`\n+ L2 @Disabled\n"
    );
}

#[test]
fn custom_test_globs_and_turning_the_gate_off() {
    let p = Policy {
        test_globs: vec!["spec/**/*_spec.rb".into()],
        ..Policy::default()
    };
    let c = change(vec![FileChange::deleted(
        "spec/models/user_spec.rb",
        "it 'works' do\nend\n",
    )]);
    assert_fails(
        &gate_with(&p, &c, GATE),
        "deleted test file `spec/models/user_spec.rb`",
    );
    let p = Policy {
        protect_tests: false,
        ..Policy::default()
    };
    let c = change(vec![FileChange::deleted("tests/parser.rs", RUST_TESTS)]);
    assert_passes(
        &gate_with(&p, &c, GATE),
        "test protection is off in the policy",
    );
}
