//! The head and the tail of an output, within a byte budget, however much a process prints.

use std::collections::VecDeque;

/// What was kept of an output: its first and last bytes (half the budget each) and how many
/// bytes there were in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

impl Captured {
    /// Keep at most `max_bytes`: the first half and the last half.
    pub fn new(max_bytes: usize) -> Self {
        let head_cap = max_bytes / 2;
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: max_bytes - head_cap,
            total: 0,
        }
    }

    /// Keep only the last `max_bytes` (for a stream whose end matters: stderr's last line).
    pub fn tail_only(max_bytes: usize) -> Self {
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap: 0,
            tail_cap: max_bytes,
            total: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Every byte the process wrote, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes dropped between the head and the tail.
    pub fn omitted(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn tail(&self) -> Vec<u8> {
        self.tail.iter().copied().collect()
    }

    /// Head and tail decoded lossily, with `[... N bytes omitted ...]` on a line of its own
    /// between them when something was dropped.
    pub fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        let omitted = self.omitted();
        if omitted > 0 {
            out.push_str(&format!("\n[... {omitted} bytes omitted ...]\n"));
        }
        out.push_str(&String::from_utf8_lossy(&self.tail()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail() {
        let mut c = Captured::new(8);
        c.push(b"abc");
        assert_eq!((c.text().as_str(), c.total(), c.omitted()), ("abc", 3, 0));
        let mut c = Captured::new(8);
        c.push(b"0123");
        c.push(b"456");
        c.push(b"789abcdef");
        assert_eq!(c.text(), "0123\n[... 8 bytes omitted ...]\ncdef");
        assert_eq!((c.total(), c.omitted()), (16, 8));
        let mut c = Captured::new(8);
        for b in b"0123456789" {
            c.push(&[*b]);
        }
        assert_eq!(c.text(), "0123\n[... 2 bytes omitted ...]\n6789");
        assert_eq!(Captured::new(8).text(), "");
    }

    #[test]
    fn tail_only_keeps_the_end() {
        let mut c = Captured::tail_only(4);
        c.push(b"first line\nlast");
        assert_eq!(
            (c.text().as_str(), c.total()),
            ("\n[... 11 bytes omitted ...]\nlast", 15)
        );
        assert_eq!(c.tail(), b"last");
    }
}
