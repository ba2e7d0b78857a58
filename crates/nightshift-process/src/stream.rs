//! A run's output as it arrives: both pipes read at once ([`Pipes`]), and the main stream
//! kept ([`Sink::Capture`]) or handed over line by line ([`Sink::Lines`]).

use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::capture::Captured;

/// A line longer than this is handed over in pieces of this size.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// What a line handler wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the run now (for example: an agent CLI went past its turn limit).
    Stop,
}

/// The run's output pipes: stdout (or both, merged) and, apart, stderr.
pub(crate) struct Pipes<'a> {
    main: &'a mut (dyn AsyncRead + Unpin + Send),
    err: Option<&'a mut (dyn AsyncRead + Unpin + Send)>,
    main_eof: bool,
    err_eof: bool,
    pub(crate) buf: Vec<u8>,
    pub(crate) ebuf: Vec<u8>,
}

/// Bytes that arrived: `n` of them, at the start of the pipe's buffer.
pub(crate) enum Read {
    Main(usize),
    Err(usize),
}

impl<'a> Pipes<'a> {
    pub(crate) fn new(
        main: &'a mut (dyn AsyncRead + Unpin + Send),
        err: Option<&'a mut (dyn AsyncRead + Unpin + Send)>,
    ) -> Self {
        Self {
            err_eof: err.is_none(),
            main,
            err,
            main_eof: false,
            buf: vec![0u8; 8192],
            ebuf: vec![0u8; 8192],
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.main_eof && self.err_eof
    }

    /// The next bytes from either pipe (cancel-safe: a dropped read loses nothing), or
    /// `None` when both have ended. A pipe that ends (or fails) is marked so on the way.
    pub(crate) async fn next(&mut self) -> Option<Read> {
        loop {
            if self.done() {
                return None;
            }
            tokio::select! {
                n = self.main.read(&mut self.buf), if !self.main_eof => match n {
                    Ok(0) | Err(_) => self.main_eof = true,
                    Ok(n) => return Some(Read::Main(n)),
                },
                n = read_maybe(&mut self.err, &mut self.ebuf), if !self.err_eof => match n {
                    Ok(0) | Err(_) => self.err_eof = true,
                    Ok(n) => return Some(Read::Err(n)),
                },
            }
        }
    }
}

async fn read_maybe(
    reader: &mut Option<&mut (dyn AsyncRead + Unpin + Send)>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Where the main stream goes.
pub(crate) enum Sink<'a> {
    Capture(&'a mut Captured),
    Lines(Lines<'a>),
}

impl Sink<'_> {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Flow {
        match self {
            Self::Capture(c) => {
                c.push(bytes);
                Flow::Continue
            }
            Self::Lines(l) => l.push(bytes),
        }
    }
}

/// Splits a byte stream into lines for a handler; once it said stop, it hears no more.
pub(crate) struct Lines<'a> {
    pub(crate) partial: Vec<u8>,
    pub(crate) on_line: &'a mut (dyn FnMut(&str) -> Flow + Send),
    pub(crate) stopped: bool,
}

impl Lines<'_> {
    fn push(&mut self, mut bytes: &[u8]) -> Flow {
        while !self.stopped {
            let Some(nl) = bytes.iter().position(|b| *b == b'\n') else {
                self.partial.extend_from_slice(bytes);
                if self.partial.len() >= MAX_LINE_BYTES {
                    let line = std::mem::take(&mut self.partial);
                    self.emit(&line);
                }
                break;
            };
            self.partial.extend_from_slice(&bytes[..nl]);
            bytes = &bytes[nl + 1..];
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
        if self.stopped {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if (self.on_line)(&String::from_utf8_lossy(line)) == Flow::Stop {
            self.stopped = true;
        }
    }

    /// A last line without a line break.
    pub(crate) fn finish(&mut self) {
        if !self.stopped && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }
}
