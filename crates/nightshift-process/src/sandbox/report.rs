//! What the init tells the factory it refused: one line per report, on the pipe the factory
//! gives it as its standard input (the program inside gets `/dev/null` instead, and the
//! init is not dumpable, so nothing inside can reach the pipe through `/proc/1/fd`).
//!
//! A line is `KIND\tCOUNT\tPROGRAM\tWHAT`; the same attempt is reported again as its count
//! grows (at 1, 2, 4, 8 … and once more at the end), and the factory keeps the largest
//! count. The factory still reads the lines as untrusted: bounded, and parsed strictly.

/// One kind of attempt the init saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// A connection (or a datagram) to an address outside the sandbox: `what` is
    /// `ADDRESS:PORT`. Inside there is no route to it.
    Outside(String),
    /// A connection to a loopback port nothing inside listens on (`what` is the port): an
    /// ordinary refusal, unless the factory's host listens there (a service of the host).
    Loopback(u16),
    /// A connection to a Unix socket of the host, refused (`what` is its path).
    HostSocket(String),
    /// A system call that leads out of the sandbox or into the kernel, refused (`what` is
    /// its name).
    Syscall(String),
}

/// An attempt, how often it happened, and the program that made it (its `comm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub attempt: Attempt,
    pub count: u64,
    pub program: String,
}

/// The longest field kept, in characters.
const FIELD_CHARS: usize = 300;

/// `s` with every control character (a tab, a line break) replaced, and shortened.
fn field(s: &str) -> String {
    s.chars()
        .take(FIELD_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Report {
    /// The line, without its line break.
    pub fn line(&self) -> String {
        let (kind, what) = match &self.attempt {
            Attempt::Outside(a) => ("outside", field(a)),
            Attempt::Loopback(p) => ("loopback", p.to_string()),
            Attempt::HostSocket(p) => ("host-socket", field(p)),
            Attempt::Syscall(n) => ("syscall", field(n)),
        };
        format!("{kind}\t{}\t{}\t{what}", self.count, field(&self.program))
    }

    /// The report a line stands for; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(4, '\t');
        let (kind, count, program, what) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let what = field(what);
        let attempt = match kind {
            "outside" => Attempt::Outside(what),
            "loopback" => Attempt::Loopback(what.parse().ok()?),
            "host-socket" => Attempt::HostSocket(what),
            "syscall" => Attempt::Syscall(what),
            _ => return None,
        };
        Some(Self {
            attempt,
            count: count.parse().ok().filter(|n| *n > 0)?,
            program: field(program),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_itself_and_anything_else_is_nothing() {
        for attempt in [
            Attempt::Outside("10.1.2.3:443".into()),
            Attempt::Loopback(8788),
            Attempt::HostSocket("/var/run/a b.sock".into()),
            Attempt::Syscall("unshare".into()),
        ] {
            let r = Report {
                attempt,
                count: 3,
                program: "python3".into(),
            };
            assert_eq!(Report::parse(&r.line()), Some(r));
        }
        // A tab or a line break in a field cannot make a second field or a second line.
        let r = Report {
            attempt: Attempt::HostSocket("/x\tsyscall\n/y".into()),
            count: 1,
            program: "a\nb".into(),
        };
        assert_eq!(r.line(), "host-socket\t1\ta?b\t/x?syscall?/y");
        for bad in [
            "",
            "outside\t1\tp",
            "loopback\t1\tp\t99999",
            "syscall\t0\tp\tptrace",
            "syscall\tmany\tp\tptrace",
            "escape\t1\tp\tx",
        ] {
            assert_eq!(Report::parse(bad), None, "{bad:?}");
        }
    }
}
