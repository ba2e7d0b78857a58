//! Assertions as whole statements, so that `tests-intact` compares them instead of counting.
//!
//! `statements` reads each assertion a pattern found on to the end of its statement, across
//! lines: a call or macro to the end of its call chain (`expect(x)` `.not.toBe(4)`,
//! `self.assertEqual(…)`, `assert_eq!(…)`), an `assert` statement (Python, Java) to the end of
//! the statement. Each statement gets a [`Assertion::key`] that two spellings of the same
//! assertion share, and [`compare`] matches the old version's keys against the new one's as
//! a multiset: an assertion may move, but not disappear or change.
//!
//! The key ignores what formatters change and nothing else: whitespace outside string
//! literals (kept as one space between two words, so `is not None` stays three words), a
//! trailing comma before a closing bracket (rustfmt, black and prettier add one when they
//! split a call over lines), and, in Python and JavaScript, single quotes around a string that
//! holds no `"` or `\` (black and prettier turn them into double quotes). Comments are already
//! gone ([`crate::test_scan::code_lines`]).
//!
//! A statement whose brackets do not close before the end of the file, or within
//! [`MAX_STATEMENT_LINES`] lines, is read to the end of its first line only, so one broken
//! statement cannot swallow the assertions after it.

use std::collections::HashMap;

use regex::Regex;

use crate::test_scan::{Hit, Language};

/// The most lines one assertion statement may span before it is cut to its first line.
pub const MAX_STATEMENT_LINES: usize = 60;

/// How an assertion pattern's match is read on to the end of its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// An `assert` statement: up to the end of the line (Python) or the `;` (Java), outside
    /// brackets.
    Statement,
    /// A call or macro: its name, its brackets, and any chained `.method(…)` after them.
    Call,
}

/// One assertion statement of a test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The 1-based line the statement starts on.
    pub line: usize,
    /// The statement on one line: whitespace outside strings collapsed to one space, and none
    /// left just inside `()` and `[]` or before `.` and `,`.
    pub code: String,
    /// What two spellings of the same assertion share (see the module docs).
    pub key: String,
    /// The test it belongs to: the nearest test above it whose name is known.
    pub test: Option<String>,
}

/// An assertion of a file's old version that its new version no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone<'a> {
    pub old: &'a Assertion,
    /// What took its place: a new assertion of the same test, paired in order; `None` when
    /// the test gained none (the assertion was removed, not altered).
    pub replaced_by: Option<&'a Assertion>,
}

/// Compare assertions as multisets of keys: every old key must still be in `new`. Answers
/// the old assertions that are gone, in the old version's order.
pub fn compare<'a>(old: &'a [Assertion], new: &'a [Assertion]) -> Vec<Gone<'a>> {
    let mut added = unmatched(new, old);
    unmatched(old, new)
        .into_iter()
        .map(|o| Gone {
            old: o,
            replaced_by: added
                .iter()
                .position(|n| n.test == o.test)
                .map(|i| added.remove(i)),
        })
        .collect()
}

/// Assertions of `a` whose key has no counterpart left in `b`.
fn unmatched<'a>(a: &'a [Assertion], b: &[Assertion]) -> Vec<&'a Assertion> {
    minus(a, b, |x| x.key.as_str())
}

/// Items of `a` whose `key` has no counterpart left in `b`: a multiset difference, in `a`'s
/// order.
pub(crate) fn minus<'a, T>(a: &'a [T], b: &[T], key: impl Fn(&T) -> &str) -> Vec<&'a T> {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for x in b {
        *left.entry(key(x)).or_default() += 1;
    }
    a.iter()
        .filter(|x| match left.get_mut(key(x)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

/// The assertion statements of `lines` (code with comments removed) from line index `start`
/// on, found by `patterns`, each attributed to the nearest named test of `tests` above it.
pub(crate) fn statements(
    lang: Language,
    lines: &[String],
    start: usize,
    patterns: &[(Regex, Kind)],
    tests: &[Hit],
) -> Vec<Assertion> {
    let text = lines.join("\n");
    let mut line_starts = Vec::with_capacity(lines.len());
    let mut offset = 0;
    for line in lines {
        line_starts.push(offset);
        offset += line.len() + 1;
    }
    let mut found: Vec<(usize, Kind)> = Vec::new();
    for (idx, line) in lines.iter().enumerate().skip(start) {
        for (re, kind) in patterns {
            for caps in re.captures_iter(line) {
                if let Some(s) = caps.name("s") {
                    found.push((line_starts[idx] + s.start(), *kind));
                }
            }
        }
    }
    // At one place, an `assert` statement wins over a call pattern that also matches it.
    found.sort_unstable();
    found.dedup_by_key(|(at, _)| *at);
    let reader = Reader {
        b: text.as_bytes(),
        lang,
    };
    let line_of = |at: usize| line_starts.partition_point(|&s| s <= at);
    let mut out = Vec::new();
    let mut covered = 0;
    for (at, kind) in found {
        if at < covered {
            // Inside the statement before it (an assertion within an assertion).
            continue;
        }
        let begin = reader.receiver_start(at).max(covered);
        let end = reader.statement_end(at, kind);
        covered = end;
        let line = line_of(begin);
        let (code, key) = normalize(lang, &text[begin..end]);
        out.push(Assertion {
            line,
            code,
            key,
            test: test_above(tests, line),
        });
    }
    out
}

/// The name of the nearest test at or above `line` (an rstest `#[case(…)]` is not a name).
fn test_above(tests: &[Hit], line: usize) -> Option<String> {
    tests
        .iter()
        .rev()
        .filter(|h| h.line <= line)
        .find_map(|h| h.name.as_deref().filter(|n| !n.starts_with("#[")))
        .map(str::to_owned)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_open(c: u8) -> bool {
    matches!(c, b'(' | b'[' | b'{')
}

fn is_close(c: u8) -> bool {
    matches!(c, b')' | b']' | b'}')
}

/// Reads statements out of a file's code, byte by byte. Every byte it stops at is ASCII, so
/// every index it returns is a char boundary.
struct Reader<'a> {
    b: &'a [u8],
    lang: Language,
}

impl Reader<'_> {
    /// Where the receiver of a method assertion starts: `self` in `self.assertEqual`,
    /// `insta` in `insta::assert_snapshot!`, `s` in `s.Require().Equal`.
    fn receiver_start(&self, at: usize) -> usize {
        let mut i = at;
        loop {
            if i > 0 && (is_word(self.b[i - 1]) || self.b[i - 1] == b'.') {
                i -= 1;
            } else if i > 1 && self.b[i - 1] == b':' && self.b[i - 2] == b':' {
                i -= 2;
            } else {
                return i;
            }
        }
    }

    /// Where the statement that starts at `at` ends (exclusive, before any `;`).
    fn statement_end(&self, at: usize, kind: Kind) -> usize {
        let end = match kind {
            Kind::Call => self.call_end(at),
            Kind::Statement => self.assert_statement_end(at),
        };
        let spans = self.b[at..end.unwrap_or(at)]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        match end {
            Some(end) if spans < MAX_STATEMENT_LINES => end,
            _ => self.line_end(at),
        }
    }

    fn line_end(&self, at: usize) -> usize {
        self.b[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |n| at + n)
    }

    /// A call chain: names, `.`, `::`, `!`, bracket groups, and a `.` on the next line where the
    /// language lets a statement continue there (not Python, not Go).
    fn call_end(&self, at: usize) -> Option<usize> {
        let b = self.b;
        let multiline = !matches!(self.lang, Language::Python | Language::Go);
        let mut i = at;
        loop {
            let word_start = i;
            while i < b.len() {
                if is_word(b[i]) || b[i] == b'.' || (b[i] == b'!' && self.lang == Language::Rust) {
                    i += 1;
                } else if b[i] == b':' && b.get(i + 1) == Some(&b':') {
                    i += 2;
                } else {
                    break;
                }
            }
            let named = i > word_start;
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() && (multiline || b[j] != b'\n') {
                j += 1;
            }
            match b.get(j) {
                Some(&c) if is_open(c) && (j == i || named) => i = self.group_end(j)?,
                Some(b'.') if j > i => i = j,
                _ => return Some(i),
            }
        }
    }

    /// An `assert` statement: to the `;` (or, in Python, the end of the line) outside
    /// brackets; a Python line ending in `\` continues on the next.
    fn assert_statement_end(&self, at: usize) -> Option<usize> {
        let b = self.b;
        let python = self.lang == Language::Python;
        let mut i = at;
        while i < b.len() {
            match b[i] {
                b';' => return Some(i),
                b'\n' if python => return Some(i),
                b'\\' if python && b.get(i + 1) == Some(&b'\n') => i += 2,
                c if is_open(c) => i = self.group_end(i)?,
                c if self.opens_string(i, c) => i = self.string_end(i),
                _ => i += 1,
            }
        }
        // Python's last statement may end with the file; Java's must end with `;`.
        python.then_some(b.len())
    }

    /// After the bracket that closes the one at `open`; `None` when the file ends first.
    fn group_end(&self, open: usize) -> Option<usize> {
        let b = self.b;
        let mut depth = 0usize;
        let mut i = open;
        while i < b.len() {
            let c = b[i];
            if is_open(c) {
                depth += 1;
                i += 1;
            } else if is_close(c) {
                depth = depth.saturating_sub(1);
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            } else if self.opens_string(i, c) {
                i = self.string_end(i);
            } else {
                i += 1;
            }
        }
        None
    }

    /// Whether the byte `c` at `i` opens a string (or, in Rust, a char literal).
    fn opens_string(&self, i: usize, c: u8) -> bool {
        match self.lang {
            Language::Rust => c == b'"' || (c == b'\'' && self.rust_char_end(i).is_some()),
            lang => lang.quotes().contains(&char::from(c)),
        }
    }

    /// After the string or char literal that opens at `i`. Strings end with their line, as in
    /// [`crate::test_scan::code_lines`].
    fn string_end(&self, i: usize) -> usize {
        let b = self.b;
        if self.lang == Language::Rust && b[i] == b'\'' {
            return self.rust_char_end(i).unwrap_or(i + 1);
        }
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != b'\n' {
            if b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q {
                return j + 1;
            }
            j += 1;
        }
        j.min(b.len())
    }

    /// After a Rust char literal opening at `i` (`'x'`, `'\n'`, `'é'`); `None` for a lifetime.
    fn rust_char_end(&self, i: usize) -> Option<usize> {
        let b = self.b;
        let close = if b.get(i + 1) == Some(&b'\\') {
            (i + 3..(i + 12).min(b.len())).find(|&j| b[j] == b'\'')?
        } else {
            // One char: one to four bytes in UTF-8.
            (i + 2..(i + 6).min(b.len())).find(|&j| b[j] == b'\'')?
        };
        let one_char = b.get(i + 1) == Some(&b'\\')
            || std::str::from_utf8(&b[i + 1..close]).is_ok_and(|s| s.chars().count() == 1);
        one_char.then_some(close + 1)
    }
}

/// The statement as shown (`code`) and as compared (`key`); see the module docs.
fn normalize(lang: Language, statement: &str) -> (String, String) {
    let reader = Reader {
        b: statement.as_bytes(),
        lang,
    };
    let b = statement.as_bytes();
    let requote = matches!(lang, Language::Python | Language::JavaScript);
    let mut code = String::with_capacity(statement.len());
    let mut key = String::with_capacity(statement.len());
    let mut i = 0;
    let mut space = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if lang == Language::Python && c == b'\\' && b.get(i + 1) == Some(&b'\n') {
            // A line continuation is layout, like the newline after it.
            space = true;
            i += 2;
            continue;
        }
        if space && !code.is_empty() {
            // Shown on one line as a person would write it: no space inside `()` and `[]`
            // or before `.` and `,`, where a split line leaves one.
            let after_open = code
                .as_bytes()
                .last()
                .is_some_and(|&p| p == b'(' || p == b'[');
            if !after_open && !matches!(c, b')' | b']' | b'.' | b',') {
                code.push(' ');
            }
            let prev = key.as_bytes().last().copied().unwrap_or(b' ');
            if is_word(prev) && is_word(c) {
                key.push(' ');
            }
        }
        space = false;
        if reader.opens_string(i, c) {
            let end = reader.string_end(i);
            let literal = &statement[i..end];
            code.push_str(literal);
            let closed = literal.len() >= 2 && literal.ends_with('\'');
            let inner = literal
                .get(1..literal.len().saturating_sub(1))
                .unwrap_or("");
            if requote && c == b'\'' && closed && !inner.contains(['"', '\\', '\'']) {
                key.push('"');
                key.push_str(inner);
                key.push('"');
            } else {
                key.push_str(literal);
            }
            i = end;
            continue;
        }
        // A whole UTF-8 sequence at once; `i` is always on a char boundary.
        let len = statement[i..].chars().next().map_or(1, char::len_utf8);
        let piece = &statement[i..i + len];
        code.push_str(piece);
        let next = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
        if !(c == b',' && next.is_some_and(|&n| is_close(n))) {
            key.push_str(piece);
        }
        i += len;
    }
    (code, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_scan::scan;

    fn codes(lang: Language, text: &str) -> Vec<(usize, String, String)> {
        scan(lang, text, true)
            .assertions
            .into_iter()
            .map(|a| (a.line, a.code, a.key))
            .collect()
    }

    fn row(line: usize, code: &str, key: &str) -> (usize, String, String) {
        (line, code.to_owned(), key.to_owned())
    }

    #[test]
    fn rust_macros_read_across_lines() {
        let text = "#[test]\nfn t() {\n    assert_eq!(\n        add(2, 2),\n        4,\n    );\n    insta::assert_snapshot!(x, @\"a ( b\");\n    assert!(v.iter().all(|c| { assert!(c > 'a'); true }));\n}\n";
        assert_eq!(
            codes(Language::Rust, text),
            [
                row(3, "assert_eq!(add(2, 2), 4,)", "assert_eq!(add(2,2),4)"),
                row(
                    7,
                    "insta::assert_snapshot!(x, @\"a ( b\")",
                    "insta::assert_snapshot!(x,@\"a ( b\")"
                ),
                row(
                    8,
                    "assert!(v.iter().all(|c| { assert!(c > 'a'); true }))",
                    "assert!(v.iter().all(|c|{assert!(c>'a');true}))"
                ),
            ]
        );
    }

    #[test]
    fn python_statements_and_calls() {
        let text = "def test_a(self):\n    assert x is not None, 'why'\n    self.assertEqual(\n        f(1),\n        2,\n    )\n    assert y == \\\n        3\n    with pytest.raises(ValueError): g()\n    mock.thing.assert_called_once_with(1)\n";
        assert_eq!(
            codes(Language::Python, text),
            [
                row(
                    2,
                    "assert x is not None, 'why'",
                    "assert x is not None,\"why\""
                ),
                row(3, "self.assertEqual(f(1), 2,)", "self.assertEqual(f(1),2)"),
                row(7, "assert y == 3", "assert y==3"),
                row(9, "pytest.raises(ValueError)", "pytest.raises(ValueError)"),
                row(
                    10,
                    "mock.thing.assert_called_once_with(1)",
                    "mock.thing.assert_called_once_with(1)"
                ),
            ]
        );
    }

    #[test]
    fn javascript_chains_continue_on_the_next_line() {
        let text = "it('adds', async () => {\n  expect(add(2, 2))\n    .not.toBe(5);\n  await expect(p).rejects.toThrow('no');\n  assert.equal(a, \"b\");\n});\n";
        let rows = codes(Language::JavaScript, text);
        assert_eq!(
            rows,
            [
                row(
                    2,
                    "expect(add(2, 2)).not.toBe(5)",
                    "expect(add(2,2)).not.toBe(5)"
                ),
                row(
                    4,
                    "expect(p).rejects.toThrow('no')",
                    "expect(p).rejects.toThrow(\"no\")"
                ),
                row(5, "assert.equal(a, \"b\")", "assert.equal(a,\"b\")"),
            ]
        );
        let tests: Vec<_> = scan(Language::JavaScript, text, true)
            .assertions
            .into_iter()
            .map(|a| a.test)
            .collect();
        assert_eq!(tests, vec![Some("adds".to_owned()); 3]);
    }

    #[test]
    fn go_and_java_receivers_and_statements() {
        let go = "func TestX(t *testing.T) {\n\ts.Require().Equal(1, f())\n\tt.Fatalf(\"bad %d\", 1)\n}\n";
        assert_eq!(
            codes(Language::Go, go),
            [
                row(2, "s.Require().Equal(1, f())", "s.Require().Equal(1,f())"),
                row(3, "t.Fatalf(\"bad %d\", 1)", "t.Fatalf(\"bad %d\",1)"),
            ]
        );
        let java = "@Test void x() {\n  Assertions.assertEquals(3,\n      add(1, 2));\n  assert n > 0 : \"n\";\n}\n";
        assert_eq!(
            codes(Language::Java, java),
            [
                row(
                    2,
                    "Assertions.assertEquals(3, add(1, 2))",
                    "Assertions.assertEquals(3,add(1,2))"
                ),
                row(4, "assert n > 0 : \"n\"", "assert n>0:\"n\""),
            ]
        );
    }

    #[test]
    fn an_unclosed_statement_stops_at_its_line() {
        let text = "def test_a():\n    assert f(1\n    assert g() == 2\n";
        assert_eq!(
            codes(Language::Python, text),
            [
                row(2, "assert f(1", "assert f(1"),
                row(3, "assert g() == 2", "assert g()==2"),
            ]
        );
    }

    #[test]
    fn compare_pairs_within_a_test_and_ignores_moves() {
        let old = scan(
            Language::Python,
            "def test_a():\n    assert a == 1\n    assert b == 2\n\ndef test_b():\n    assert c == 3\n",
            true,
        );
        let new = scan(
            Language::Python,
            "def test_a():\n    assert b == 2\n    assert True\n\ndef test_b():\n    pass\n\ndef test_c():\n    assert a == 1\n    assert d\n",
            true,
        );
        // `a == 1` moved to another test: not a change. `c == 3` went, and `test_b` gained
        // nothing in its place.
        assert_eq!(
            compare(&old.assertions, &new.assertions),
            [Gone {
                old: &old.assertions[2],
                replaced_by: None
            }]
        );
        let old = scan(Language::Python, "def test_a():\n    assert a == 1\n", true);
        let new = scan(Language::Python, "def test_a():\n    assert True\n", true);
        assert_eq!(
            compare(&old.assertions, &new.assertions),
            [Gone {
                old: &old.assertions[0],
                replaced_by: Some(&new.assertions[0])
            }]
        );
        assert_eq!(
            (old.assertions[0].line, new.assertions[0].code.as_str()),
            (2, "assert True")
        );
    }
}
