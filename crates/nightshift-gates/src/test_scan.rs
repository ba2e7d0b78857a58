//! What a file holds, per language: its code with comments removed, and its tests,
//! assertions and skip markers, found with regular expressions.
//!
//! Tests and skip markers are counted per line. Assertions are whole statements: each match
//! of an assertion pattern is read on to the end of its statement (see [`crate::assertions`]),
//! so `tests-intact` can compare them, not just count them.

use std::sync::LazyLock;

use regex::Regex;

use crate::assertions::{self, Assertion, Kind};

/// The languages whose tests are counted, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `.rs`. Tests: `#[test]`, `#[tokio::test]` (any `path::test`), `#[rstest]`, and each
    /// `#[test_case(…)]` / `#[case(…)]`. Assertions: macros named `…assert…!` (`assert!`,
    /// `assert_eq!`, `debug_assert_ne!`, `assert_matches!`, `prop_assert!`, `insta::assert_…!`).
    /// Skips: `#[ignore`.
    Rust,
    /// `.py`. Tests: `def test…(` and `async def test…(`. Assertions: `assert` statements,
    /// `.assert…(` calls (`self.assertEqual`, mocks, `np.testing`), bare `assert_…(` calls,
    /// `pytest.raises(` / `pytest.warns(`. Skips: `pytest.mark.skip` / `skipif` / `xfail`,
    /// `unittest.skip…` / `expectedFailure`, `@skip…`, `pytest.skip(` / `xfail(` /
    /// `importorskip(`, `.skipTest(`.
    Python,
    /// `.js`, `.jsx`, `.mjs`, `.cjs`, `.ts`, `.tsx`, `.mts`, `.cts`. Tests: `it(`, `test(`
    /// (also `.only` / `.concurrent`). Assertions: `expect(`, `assert(`, `assert.…(`. Skips:
    /// `.skip(`, `.skipIf(`, `.todo(`, `.only(` (it skips every other test), `xit(`, `xtest(`,
    /// `xdescribe(`, `fit(`, `fdescribe(`.
    JavaScript,
    /// `.go`. Tests: `func Test…(` (also methods, for suites). Assertions: `t.Error…(`,
    /// `t.Fatal…(`, `t.Fail…(` (or `b.`), `require.…(`, `assert.…(`, `.Require().…(`,
    /// `.Assert().…(`. Skips: `.Skip(`, `.Skipf(`, `.SkipNow(`.
    Go,
    /// `.java`, `.kt`, `.kts`. Tests: `@Test`, `@ParameterizedTest`, `@RepeatedTest`,
    /// `@TestFactory`, `@TestTemplate`. Assertions: `assert…(` calls, `assert` statements.
    /// Skips: `@Disabled…`, `@Ignore`, `assumeTrue(` / `assumeFalse(` / `assumeThat(`.
    Java,
}

impl Language {
    /// The language of a path, by its extension.
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "rs" => Some(Self::Rust),
            "py" => Some(Self::Python),
            "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts" => Some(Self::JavaScript),
            "go" => Some(Self::Go),
            "java" | "kt" | "kts" => Some(Self::Java),
            _ => None,
        }
    }

    fn patterns(self) -> &'static Patterns {
        match self {
            Self::Rust => &RUST,
            Self::Python => &PYTHON,
            Self::JavaScript => &JAVASCRIPT,
            Self::Go => &GO,
            Self::Java => &JAVA,
        }
    }

    /// Characters that open a one-line string literal (whose content is kept as code, but
    /// inside which comment markers are not comments).
    pub(crate) fn quotes(self) -> &'static [char] {
        match self {
            // `'` starts lifetimes too, so only `"` is a string quote in Rust.
            Self::Rust => &['"'],
            Self::Python | Self::Java => &['"', '\''],
            Self::JavaScript => &['"', '\'', '`'],
            Self::Go => &['"', '\'', '`'],
        }
    }
}

struct Patterns {
    tests: Vec<Regex>,
    /// Each pattern marks where its statement starts with a group named `s`.
    assertions: Vec<(Regex, Kind)>,
    skips: Vec<Regex>,
}

fn re(pattern: &str) -> Regex {
    #[expect(
        clippy::expect_used,
        reason = "the patterns are constants, compiled by a unit test"
    )]
    Regex::new(pattern).expect("a built-in pattern compiles")
}

fn res(patterns: &[&str]) -> Vec<Regex> {
    patterns.iter().map(|p| re(p)).collect()
}

/// An assertion that is a call (or a macro), read to the end of its call chain.
fn call(pattern: &str) -> (Regex, Kind) {
    (re(pattern), Kind::Call)
}

/// An assertion that is an `assert` statement, read to the end of the statement.
fn statement(pattern: &str) -> (Regex, Kind) {
    (re(pattern), Kind::Statement)
}

static RUST: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    tests: res(&[
        r"#\[\s*(?:[A-Za-z_][A-Za-z0-9_]*::)*(?:test|rstest|test_case)\b",
        r"#\[\s*case\s*(?:::\s*\w+\s*)?\(",
    ]),
    assertions: vec![call(r"(?P<s>\b\w*assert\w*!)\s*[(\[{]")],
    skips: res(&[r"#\[\s*ignore\b"]),
});

static RUST_CFG_TEST: LazyLock<Regex> = LazyLock::new(|| re(r"#\[\s*cfg\s*\(\s*test\s*\)\s*\]"));
static RUST_FN_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)"));

static PYTHON: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    tests: res(&[r"^\s*(?:async\s+)?def\s+(test\w*)\s*\("]),
    assertions: vec![
        statement(r"(?:^|;)\s*(?P<s>assert)\b"),
        call(r"(?P<s>\.assert\w*)\s*\("),
        call(r"(?:^|[^\w.])(?P<s>assert_\w+)\s*\("),
        call(r"\b(?P<s>pytest\.(?:raises|warns))\s*\("),
    ],
    skips: res(&[
        r"\bpytest\.mark\.(?:skip|skipif|xfail)\b",
        r"\bunittest\.(?:skip\w*|expectedFailure)\b",
        r"@(?:skip|skipIf|skipUnless|expectedFailure)\b",
        r"\bpytest\.(?:skip|xfail|importorskip)\s*\(",
        r"\.skipTest\s*\(",
    ]),
});

static JAVASCRIPT: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    tests: res(&[r"(?:^|[^\w.$])(?:it|test)(?:\.only|\.concurrent)?\s*\("]),
    assertions: vec![
        call(r"(?:^|[^\w.$])(?P<s>expect)\s*\("),
        call(r"(?:^|[^\w.$])(?P<s>assert(?:\.\w+)?)\s*\("),
    ],
    skips: res(&[
        r"\.(?:skip|skipIf|todo|only)\s*\(",
        r"(?:^|[^\w.$])(?:xit|xtest|xdescribe|fit|fdescribe)\s*\(",
    ]),
});

static JS_NAME: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*(["'`])((?:\\.|[^\\])*?)["'`]"#));

static GO: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    tests: res(&[r"^\s*func\s+(?:\([^)]*\)\s*)?(Test\w*)\s*\("]),
    assertions: vec![
        call(r"\b(?P<s>[tb]\.(?:Error|Fatal|Fail)\w*)\s*\("),
        call(r"\b(?P<s>(?:require|assert)\.\w+)\s*\("),
        call(r"(?P<s>\.(?:Require|Assert)\(\)\.\w+)\s*\("),
    ],
    skips: res(&[r"\.Skip(?:f|Now)?\s*\("]),
});

static JAVA: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    tests: res(&[r"@(?:Test|ParameterizedTest|RepeatedTest|TestFactory|TestTemplate)\b"]),
    assertions: vec![
        statement(r"(?:^|;)\s*(?P<s>assert)\s"),
        call(r"\b(?P<s>assert\w*)\s*\("),
    ],
    skips: res(&[
        r"@(?:Disabled\w*|Ignore)\b",
        r"\bassume(?:True|False|That)\s*\(",
    ]),
});

static JAVA_ANNOTATION: LazyLock<Regex> = LazyLock::new(|| re(r"@\w+(?:\s*\([^)]*\))?"));
static JAVA_METHOD: LazyLock<Regex> = LazyLock::new(|| re(r"([A-Za-z_][A-Za-z0-9_]*)\s*\("));

/// One counted test or skip marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// 1-based line number.
    pub line: usize,
    /// The line's code, trimmed.
    pub code: String,
    /// For tests: the test's name where it can be found (function name, or the title string).
    pub name: Option<String>,
}

/// What a text holds, in a language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub tests: Vec<Hit>,
    /// Whole assertion statements, in the order they appear.
    pub assertions: Vec<Assertion>,
    pub skips: Vec<Hit>,
}

/// The text split into lines with comments removed (same number of lines, so line numbers
/// still match).
pub fn code_lines(lang: Language, text: &str) -> Vec<String> {
    let quotes = lang.quotes();
    let c_like = lang != Language::Python;
    let mut block_depth = 0usize; // inside `/* … */` (C-like) or a triple-quoted string (Python)
    let mut triple: Option<char> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut code = String::with_capacity(line.len());
        let mut quote: Option<char> = None;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if let Some(q) = triple {
                if c == q && next == Some(q) && chars.get(i + 2) == Some(&q) {
                    triple = None;
                    i += 3;
                } else {
                    i += 1;
                }
                continue;
            }
            if block_depth > 0 {
                if c == '*' && next == Some('/') {
                    block_depth -= 1;
                    i += 2;
                } else if lang == Language::Rust && c == '/' && next == Some('*') {
                    block_depth += 1;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if let Some(q) = quote {
                code.push(c);
                if c == '\\' {
                    if let Some(n) = next {
                        code.push(n);
                    }
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            if c_like && c == '/' && next == Some('/') {
                break;
            }
            if c_like && c == '/' && next == Some('*') {
                block_depth = 1;
                i += 2;
                continue;
            }
            if !c_like && c == '#' {
                break;
            }
            if !c_like && (c == '"' || c == '\'') && next == Some(c) && chars.get(i + 2) == Some(&c)
            {
                triple = Some(c);
                i += 3;
                continue;
            }
            if quotes.contains(&c) {
                quote = Some(c);
            }
            code.push(c);
            i += 1;
        }
        out.push(code);
    }
    out
}

/// Whether a Rust text holds tests: a test attribute or `#[cfg(test)]` in its code.
pub fn rust_has_tests(text: &str) -> bool {
    code_lines(Language::Rust, text)
        .iter()
        .any(|l| RUST_CFG_TEST.is_match(l) || RUST.tests.iter().any(|r| r.is_match(l)))
}

/// Count tests, assertions and skip markers in `text`. With `whole_file` false (a Rust source
/// file outside the test globs), counting starts at the first `#[cfg(test)]` or test attribute,
/// and a text with neither counts nothing.
pub fn scan(lang: Language, text: &str, whole_file: bool) -> Scan {
    let lines = code_lines(lang, text);
    let start = if whole_file || lang != Language::Rust {
        0
    } else {
        lines
            .iter()
            .position(|l| RUST_CFG_TEST.is_match(l) || RUST.tests.iter().any(|r| r.is_match(l)))
            .unwrap_or(lines.len())
    };
    let p = lang.patterns();
    let mut scan = Scan::default();
    for (idx, line) in lines.iter().enumerate().skip(start) {
        let hit = |name| Hit {
            line: idx + 1,
            code: line.trim().to_owned(),
            name,
        };
        for r in &p.tests {
            for m in r.captures_iter(line) {
                let end = m.get(0).map_or(0, |m| m.end());
                let name = match m.get(1) {
                    Some(g) => Some(g.as_str().to_owned()),
                    None => test_name(lang, &lines, idx, end),
                };
                scan.tests.push(hit(name));
            }
        }
        for r in &p.skips {
            for _ in r.find_iter(line) {
                scan.skips.push(hit(None));
            }
        }
    }
    scan.assertions = assertions::statements(lang, &lines, start, &p.assertions, &scan.tests);
    scan
}

/// The name of the test whose marker ends at `end` on line `idx`.
fn test_name(lang: Language, lines: &[String], idx: usize, end: usize) -> Option<String> {
    let rest = lines[idx].get(end..).unwrap_or("");
    match lang {
        Language::Rust => {
            let marker = lines[idx].trim();
            if marker.starts_with("#[case") || marker.starts_with("#[test_case") {
                return Some(marker.to_owned());
            }
            std::iter::once(rest)
                .chain(lines.iter().skip(idx + 1).take(10).map(String::as_str))
                .find_map(|l| {
                    RUST_FN_NAME
                        .captures(l)
                        .and_then(|c| c.get(1))
                        .map(|g| g.as_str().to_owned())
                })
        }
        Language::JavaScript => JS_NAME
            .captures(rest)
            .and_then(|c| c.get(2))
            .map(|g| g.as_str().to_owned()),
        Language::Java => std::iter::once(rest)
            .chain(lines.iter().skip(idx + 1).take(10).map(String::as_str))
            .find_map(|l| {
                let l = JAVA_ANNOTATION.replace_all(l, "");
                JAVA_METHOD
                    .captures(&l)
                    .and_then(|c| c.get(1))
                    .map(|g| g.as_str().to_owned())
            }),
        Language::Python | Language::Go => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        for lang in [
            Language::Rust,
            Language::Python,
            Language::JavaScript,
            Language::Go,
            Language::Java,
        ] {
            let p = lang.patterns();
            assert!(!p.tests.is_empty() && !p.assertions.is_empty() && !p.skips.is_empty());
        }
        assert!(RUST_CFG_TEST.is_match("#[cfg(test)]"));
        assert!(RUST_FN_NAME.is_match("fn x()"));
        assert!(JS_NAME.is_match("'x'"));
        assert!(JAVA_ANNOTATION.is_match("@Test"));
        assert!(JAVA_METHOD.is_match("x("));
    }

    #[test]
    fn comments_are_removed_but_strings_kept() {
        let text =
            "a(); // assert!(x)\n/* assert!(y)\nassert!(z) */ b();\nlet s = \"// not a comment\";";
        assert_eq!(
            code_lines(Language::Rust, text),
            ["a(); ", "", " b();", "let s = \"// not a comment\";"]
        );
        let py = "x = 1  # assert x\n\"\"\"\nassert y\n\"\"\"\ns = '#'";
        assert_eq!(
            code_lines(Language::Python, py),
            ["x = 1  ", "", "", "", "s = '#'"]
        );
    }

    #[test]
    fn rust_counts() {
        let text = r#"
use x;
#[test]
fn one() { assert_eq!(1, 1); assert!(true); }
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow"]
async fn two() { debug_assert_ne!(1, 2); }
#[rstest]
#[case(1)]
#[case(2)]
fn three(#[case] n: u8) { prop_assert!(n > 0); }
#[cfg(test)]
// #[test]
fn helper() {}
"#;
        let s = scan(Language::Rust, text, true);
        let names: Vec<_> = s
            .tests
            .iter()
            .map(|h| h.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["one", "two", "three", "#[case(1)]", "#[case(2)]"]);
        assert_eq!(s.assertions.len(), 4);
        assert_eq!(s.skips.len(), 1);
    }

    #[test]
    fn rust_source_counts_from_cfg_test() {
        let text = "fn f() { assert!(x); }\n#[cfg(test)]\nmod tests {\n#[test]\nfn t() { assert!(f()); }\n}\n";
        assert_eq!(scan(Language::Rust, text, false).assertions.len(), 1);
        assert_eq!(scan(Language::Rust, text, true).assertions.len(), 2);
        let no_cfg = "fn f() { assert!(x); }
#[test]
fn t() { assert!(f()); }
";
        assert_eq!(scan(Language::Rust, no_cfg, false).assertions.len(), 1);
        assert_eq!(
            scan(
                Language::Rust,
                "fn f() { assert!(x); }
",
                false
            ),
            Scan::default()
        );
        assert!(rust_has_tests(text));
        assert!(!rust_has_tests("fn f() {}\n// #[test]\n"));
    }

    #[test]
    fn python_counts() {
        let text = "import pytest\n\n@pytest.mark.skipif(True, reason='x')\ndef test_a():\n    assert 1 == 1\n    with pytest.raises(ValueError):\n        f()\n\nclass T(unittest.TestCase):\n    async def test_b(self):\n        self.assertEqual(1, 1)\n        # assert 2\n\ndef helper():\n    pass\n";
        let s = scan(Language::Python, text, true);
        let names: Vec<_> = s.tests.iter().filter_map(|h| h.name.clone()).collect();
        assert_eq!(names, ["test_a", "test_b"]);
        assert_eq!(s.assertions.len(), 3);
        assert_eq!(s.skips.len(), 1);
    }

    #[test]
    fn javascript_counts() {
        let text = "describe('x', () => {\n  it('adds', () => { expect(add(1, 2)).toBe(3); });\n  test.only(\"subs\", () => { assert.equal(1, 1); });\n  xit('later', () => {});\n  // it('gone', () => {})\n  if (/a/.test(s)) {}\n});\n";
        let s = scan(Language::JavaScript, text, true);
        let names: Vec<_> = s.tests.iter().filter_map(|h| h.name.clone()).collect();
        assert_eq!(names, ["adds", "subs"]);
        assert_eq!(s.assertions.len(), 2);
        assert_eq!(s.skips.len(), 2);
    }

    #[test]
    fn go_counts() {
        let text = "func TestAdd(t *testing.T) {\n\tif add(1, 2) != 3 {\n\t\tt.Errorf(\"bad\")\n\t}\n\trequire.Equal(t, 1, 1)\n}\n\nfunc (s *Suite) TestSub() {\n\ts.T().Skip(\"later\")\n}\n\nfunc helper() {}\n";
        let s = scan(Language::Go, text, true);
        let names: Vec<_> = s.tests.iter().filter_map(|h| h.name.clone()).collect();
        assert_eq!(names, ["TestAdd", "TestSub"]);
        assert_eq!(s.assertions.len(), 2);
        assert_eq!(s.skips.len(), 1);
    }

    #[test]
    fn java_counts() {
        let text = "class AddTest {\n  @Test\n  void adds() { assertEquals(3, add(1, 2)); }\n  @Disabled(\"later\") @Test void subs() {\n    Assertions.assertThrows(X.class, () -> f());\n  }\n  @TestInstance(PER_CLASS) class Inner {}\n}\n";
        let s = scan(Language::Java, text, true);
        let names: Vec<_> = s.tests.iter().filter_map(|h| h.name.clone()).collect();
        assert_eq!(names, ["adds", "subs"]);
        assert_eq!(s.assertions.len(), 2);
        assert_eq!(s.skips.len(), 1);
    }

    #[test]
    fn languages_by_extension() {
        assert_eq!(Language::from_path("src/a.rs"), Some(Language::Rust));
        assert_eq!(
            Language::from_path("web/a.test.tsx"),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::from_path("Makefile"), None);
        assert_eq!(Language::from_path(".hidden/x"), None);
    }
}
