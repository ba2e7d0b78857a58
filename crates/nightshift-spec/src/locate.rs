//! Where a key is in a TOML file, for messages.
//!
//! serde's errors carry a byte span but not the key they are about, and a missing key has no
//! span at all. The document is parsed a second time, with `toml_edit`, which keeps the
//! position of every key and table: from it we read the dotted key at an offset, and the
//! position of a table that should hold a key.

use toml_edit::{ImDocument, Item, Key, TableLike, Value};

/// One step of a path into the document: a key, or an entry of an array of tables.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A parsed document, with the positions of its keys.
pub(crate) struct Doc<'t> {
    doc: Option<ImDocument<&'t str>>,
}

impl<'t> Doc<'t> {
    /// Parse `text`; a text that does not parse gives a `Doc` that knows no positions (serde
    /// reports the syntax error itself).
    pub(crate) fn parse(text: &'t str) -> Self {
        Self {
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// The dotted key (`gates.timeout_secs`) whose name or value holds byte `offset`, without
    /// array indices: the position already says which entry.
    pub(crate) fn key_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc.as_ref()?;
        let mut path = Vec::new();
        if in_table(doc.as_table(), offset, &mut path) {
            Some(path.join("."))
        } else {
            None
        }
    }

    /// The byte offset of the table at `path`: its `[header]`, the `{` of an inline table, or
    /// the first key of a dotted one. A table that is not there is reported at the nearest
    /// table above it that is (the root: offset 0).
    pub(crate) fn table_offset(&self, path: &[Seg<'_>]) -> usize {
        let Some(doc) = self.doc.as_ref() else {
            return 0;
        };
        let mut best = 0;
        let mut node = Node::Item(doc.as_item());
        for seg in path {
            let (next, key) = match (seg, node) {
                (Seg::Key(k), _) => match node.table().and_then(|t| t.get_key_value(k)) {
                    Some((key, item)) => (Node::Item(item), key.span()),
                    None => break,
                },
                (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => match a.get(*i) {
                    Some(t) => (Node::Table(t), None),
                    None => break,
                },
                (Seg::Index(_), _) => break,
            };
            // A dotted table (`recipe.model = …`) has no span of its own: its key has.
            if let Some(offset) = next.span_start().or(key.map(|s| s.start)) {
                best = offset;
            }
            node = next;
        }
        best
    }
}

/// A step of a walk down the document: an item, or an entry of an array of tables (which
/// `toml_edit` hands out as a bare table).
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn table(self) -> Option<&'a dyn TableLike> {
        match self {
            Self::Item(item) => item.as_table_like(),
            Self::Table(t) => Some(t),
        }
    }

    /// Where it starts, if it has a span: a `[header]` or an inline value.
    fn span_start(self) -> Option<usize> {
        match self {
            Self::Item(item) => item.span(),
            Self::Table(t) => t.span(),
        }
        .map(|s| s.start)
    }
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

/// Find `offset` in a table's keys and values, pushing the keys on the way to `path`.
fn in_table(table: &dyn TableLike, offset: usize, path: &mut Vec<String>) -> bool {
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        path.push(name.to_string());
        if in_entry(key, item, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn in_entry(key: &Key, item: &Item, offset: usize, path: &mut Vec<String>) -> bool {
    if contains(key.span(), offset) {
        return true;
    }
    match item {
        Item::Value(v) => in_value(v, offset, path),
        // A table's span may cover its body: look for the key inside it first.
        Item::Table(t) => in_table(t, offset, path) || contains(t.span(), offset),
        Item::ArrayOfTables(a) => a
            .iter()
            .any(|t| in_table(t, offset, path) || contains(t.span(), offset)),
        Item::None => false,
    }
}

fn in_value(value: &Value, offset: usize, path: &mut Vec<String>) -> bool {
    if !contains(value.span(), offset) {
        return false;
    }
    match value {
        Value::InlineTable(t) => {
            in_table(t, offset, path);
        }
        Value::Array(a) => {
            for v in a.iter() {
                if in_value(v, offset, path) {
                    break;
                }
            }
        }
        _ => {}
    }
    true
}
