//! [`Command`]: a child process with its limits, run to its end and cleaned up after.
//!
//! How a run goes:
//! 1. The program starts in its folder with stdin from `/dev/null` (it cannot wait on a
//!    prompt), the environment of [`Env`] and nothing else, the job's tag and a tag of its
//!    own run, as the leader of a new process group.
//! 2. Its output is read as it arrives: [`Command::output`] gives stdout and stderr one pipe,
//!    so they interleave as a terminal would show them, and keeps the head and the tail
//!    ([`Captured`]); [`Command::lines`] hands stdout to the caller line by line (decoded
//!    lossily: a line that is not UTF-8 does not stop the reading) and keeps stderr's tail.
//!    Any output counts as a sign of life for the silence limit.
//! 3. It ends when the program exits and its pipes close (or [`EXIT_GRACE`] after the exit,
//!    if something it started keeps a pipe open); or when its time limit passes, when it is
//!    silent for its silence limit, or when the caller's line handler says [`Flow::Stop`].
//! 4. Whichever way it ended, everything it started is then killed: its group (while the
//!    leader is not yet reaped), its descendants, every process carrying its run's tag.
//! 5. Dropped before it ended (a cancelled iteration), it kills the group at once and sweeps
//!    the run's tag on the blocking pool.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::time::Instant;

use crate::capture::Captured;
use crate::env::{Env, RUN_VAR, TAG_VAR};
use crate::kill::{kill_group, kill_tree, needle, sweep_blocking};
use crate::sandbox::{Blocked, Cgroup, Sandbox};
pub use crate::stream::Flow;
use crate::stream::{Lines, Pipes, Read, Sink};

/// How long output may keep coming after the program exited, before the rest is killed.
pub const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for a killed leader to be reaped.
const REAP_AFTER_KILL: Duration = Duration::from_secs(5);
/// How long to read what is left in the pipes once everything was killed.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);
/// How long to wait for the rest of a sandbox's reports once the run ended.
const REPORTS_AFTER_END: Duration = Duration::from_secs(2);

/// What confines a started run, read back when it ends.
struct Confined {
    cgroup: Option<Cgroup>,
    /// The sandbox's reports, being read.
    reports: Option<tokio::task::JoinHandle<Vec<Blocked>>>,
    /// The host's Unix sockets covered inside, as listed when the sandbox was made.
    sockets: Vec<PathBuf>,
}

/// How often a sandbox is set up again when it failed because a host socket it covers went
/// away between the listing and the mount (another process's socket, removed meanwhile).
const SANDBOX_TRIES: usize = 3;

/// What to run, where, with what environment and limits.
#[derive(Debug, Clone)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Env,
    tag: Option<String>,
    time_limit: Option<Duration>,
    silence_limit: Option<Duration>,
    sandbox: Option<Sandbox>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The program exited with this code.
    Exited(i32),
    /// A signal that was not ours ended it.
    Signalled(i32),
    /// It ran past its time limit and was killed.
    TimedOut,
    /// It wrote nothing for its silence limit (taken to be waiting for input) and was killed.
    Silent,
    /// The line handler said [`Flow::Stop`] and it was killed.
    Stopped,
    /// Waiting for it failed, or it was killed and could not be reaped.
    Lost,
}

impl End {
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }

    /// The exit code, when the program exited by itself.
    pub fn code(self) -> Option<i32> {
        match self {
            Self::Exited(c) => Some(c),
            _ => None,
        }
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    pub end: End,
    /// [`Command::output`]: stdout and stderr as they interleaved. [`Command::lines`]:
    /// stderr.
    pub output: Captured,
    pub duration: Duration,
    /// Processes the cleanup found still running after the run ended, and killed.
    pub leftovers: usize,
    /// What the sandbox refused (also recorded in its [`crate::sandbox::Evidence`]).
    pub blocked: Vec<Blocked>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start `{}` in {}: {source}", program.to_string_lossy(), cwd.display())]
pub struct SpawnError {
    pub program: OsString,
    pub cwd: PathBuf,
    #[source]
    pub source: std::io::Error,
    /// The sandbox around the program could not be set up (bubblewrap or our init said
    /// so before the program ran): a failure of the host or of ours, never the program's.
    pub sandbox: bool,
}

impl Command {
    /// Run `program` in `cwd`, with the standard environment ([`Env::standard`]) and no
    /// limits until some are set.
    pub fn new(program: impl Into<OsString>, cwd: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Env::standard(),
            tag: None,
            time_limit: None,
            silence_limit: None,
            sandbox: None,
        }
    }

    /// `sh -c script` in `cwd`.
    pub fn shell(script: &str, cwd: impl Into<PathBuf>) -> Self {
        Self::new("sh", cwd).arg("-c").arg(script)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set one variable on top of the environment.
    pub fn var(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.set(key, value);
        self
    }

    pub fn vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (k, v) in vars {
            self.env.set(k, v);
        }
        self
    }

    /// The job's tag ([`TAG_VAR`]), inherited by everything the program starts.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    pub fn silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = Some(limit);
        self
    }

    /// Run inside `sandbox` ([`crate::sandbox`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Run to the end with stdout and stderr in one pipe, keeping at most `max_bytes` of it
    /// (the head and the tail).
    pub async fn output(self, max_bytes: usize) -> Result<Run, SpawnError> {
        let mut tries = 1;
        loop {
            match self.output_once(max_bytes).await {
                Err((e, true)) if tries < SANDBOX_TRIES => {
                    tracing::debug!(error = %e.source, "A host socket went away while the sandbox was set up; setting it up again.");
                    tries += 1;
                }
                done => return done.map_err(|(e, _)| e),
            }
        }
    }

    /// One try of [`Command::output`]; a failure says whether setting the sandbox up again
    /// may help.
    async fn output_once(&self, max_bytes: usize) -> Result<Run, (SpawnError, bool)> {
        let fail = |source| (self.spawn_error(source), false);
        let (reader, writer) = std::io::pipe().map_err(fail)?;
        let writer_too = writer.try_clone().map_err(fail)?;
        let run_tag = run_tag();
        // Our copies of the write end go with `start`'s `tokio::process::Command`: the
        // pipe reaches its end when the program's copies close.
        let (child, confined) = self
            .start(&run_tag, Stdio::from(writer), Stdio::from(writer_too))
            .map_err(|e| (e, false))?;
        let mut pipe =
            tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(fail)?;
        let mut out = Captured::new(max_bytes);
        let mut none = Captured::new(0);
        let (end, leftovers) = self
            .supervise(
                child,
                &run_tag,
                &mut pipe,
                None,
                &mut Sink::Capture(&mut out),
                &mut none,
            )
            .await;
        let sockets = confined.sockets.clone();
        let run = self.finished(end, out, leftovers, confined).await;
        self.sandbox_failure(&run, &sockets)?;
        Ok(run)
    }

    /// Run to the end handing stdout to `on_line` line by line (without the line break),
    /// keeping at most the last `stderr_bytes` of stderr.
    pub async fn lines(
        self,
        on_line: &mut (dyn FnMut(&str) -> Flow + Send),
        stderr_bytes: usize,
    ) -> Result<Run, SpawnError> {
        let mut tries = 1;
        loop {
            match self.lines_once(on_line, stderr_bytes).await {
                Err((e, true)) if tries < SANDBOX_TRIES => {
                    tracing::debug!(error = %e.source, "A host socket went away while the sandbox was set up; setting it up again.");
                    tries += 1;
                }
                done => return done.map_err(|(e, _)| e),
            }
        }
    }

    /// One try of [`Command::lines`] (a sandbox that could not be set up printed no line).
    async fn lines_once(
        &self,
        on_line: &mut (dyn FnMut(&str) -> Flow + Send),
        stderr_bytes: usize,
    ) -> Result<Run, (SpawnError, bool)> {
        let run_tag = run_tag();
        let (mut child, confined) = self
            .start(&run_tag, Stdio::piped(), Stdio::piped())
            .map_err(|e| (e, false))?;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
        else {
            return Err((
                self.spawn_error(std::io::Error::other("no output pipes")),
                false,
            ));
        };
        let mut err = Captured::tail_only(stderr_bytes);
        let mut sink = Sink::Lines(Lines {
            partial: Vec::new(),
            on_line,
            stopped: false,
        });
        let (end, leftovers) = self
            .supervise(
                child,
                &run_tag,
                &mut stdout,
                Some(&mut stderr),
                &mut sink,
                &mut err,
            )
            .await;
        if let Sink::Lines(lines) = &mut sink {
            lines.finish();
        }
        let sockets = confined.sockets.clone();
        let run = self.finished(end, err, leftovers, confined).await;
        self.sandbox_failure(&run, &sockets)?;
        Ok(run)
    }

    /// A sandboxed run whose sandbox could not be set up: bubblewrap exits 1 saying
    /// `bwrap: …`, our init exits 125 saying `nightshift sandbox: …`, before the program
    /// runs. Reported as a failure to start, so that no caller mistakes it for the
    /// program's own result (a model never sees it as a tool's error). It may be tried
    /// again (`true`) when one of the host sockets it covered is gone now: bubblewrap could
    /// not make the mount point of a socket removed after the listing.
    fn sandbox_failure(&self, run: &Run, sockets: &[PathBuf]) -> Result<(), (SpawnError, bool)> {
        if self.sandbox.is_none() {
            return Ok(());
        }
        let text = run.output.text();
        let said = text.lines().find(|l| {
            (run.end == End::Exited(1) && l.starts_with("bwrap: "))
                || (run.end == End::Exited(125) && l.starts_with("nightshift sandbox: "))
        });
        let Some(line) = said else {
            return Ok(());
        };
        tracing::error!(program = %self.program.to_string_lossy(), message = line, "The sandbox could not start.");
        let mut e = self.spawn_error(std::io::Error::other(format!(
            "the sandbox could not start: {line}"
        )));
        e.sandbox = true;
        let again = sockets.iter().any(|s| !s.exists());
        Err((e, again))
    }

    async fn finished(
        &self,
        (end, duration): (End, Duration),
        output: Captured,
        leftovers: usize,
        Confined {
            cgroup, reports, ..
        }: Confined,
    ) -> Run {
        tracing::debug!(program = %self.program.to_string_lossy(), ?end, duration_ms = duration.as_millis() as u64, leftovers, "Process run ended.");
        let mut blocked = match cgroup {
            Some(cg) => tokio::task::spawn_blocking(move || {
                let b = cg.blocked();
                cg.remove();
                b
            })
            .await
            .unwrap_or_default(),
            None => Vec::new(),
        };
        if let Some(sandbox) = &self.sandbox {
            // 153 = 128 + SIGXFSZ, as the init (and a shell) reports a child it killed.
            if matches!(end, End::Exited(153) | End::Signalled(25)) {
                blocked.push(Blocked::FileSize);
            }
            if let Some(mut task) = reports {
                // Everything of the run has ended: the pipe closes at once.
                match tokio::time::timeout(REPORTS_AFTER_END, &mut task).await {
                    Ok(Ok(seen)) => blocked.extend(seen),
                    Ok(Err(_)) => {}
                    Err(_) => {
                        task.abort();
                        tracing::warn!(program = %self.program.to_string_lossy(), "The sandbox's report pipe stayed open after the run.");
                    }
                }
            }
            for b in &blocked {
                sandbox.evidence.record(&self.describe(), b.clone());
            }
        }
        Run {
            end,
            output,
            duration,
            leftovers,
            blocked,
        }
    }

    /// The command line as a person reads it: a shell's script, else the program and its
    /// arguments.
    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if self.program == "sh" && args.len() >= 2 && args[0] == "-c" {
            return args[1].clone();
        }
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn_error(&self, source: std::io::Error) -> SpawnError {
        SpawnError {
            program: self.program.clone(),
            cwd: self.cwd.clone(),
            source,
            sandbox: false,
        }
    }

    fn start(
        &self,
        run_tag: &str,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<(tokio::process::Child, Confined), SpawnError> {
        let (program, args, cgroup, sockets) = match &self.sandbox {
            None => (self.program.clone(), self.args.clone(), None, Vec::new()),
            Some(sandbox) => self.wrapped(sandbox),
        };
        // A sandbox's init reports on its standard input (the program gets `/dev/null`).
        let (stdin, reports) = match &self.sandbox {
            None => (Stdio::null(), None),
            Some(_) => {
                let fail = |e| self.spawn_error(e);
                let (reader, writer) = std::io::pipe().map_err(fail)?;
                let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
                    .map_err(fail)?;
                #[expect(
                    clippy::disallowed_methods,
                    reason = "owned by the run: awaited, or aborted after a grace, in `finished`"
                )]
                let task = tokio::spawn(crate::sandbox::collect(pipe));
                (Stdio::from(writer), Some(task))
            }
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter())
            .env(RUN_VAR, run_tag)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(tag) = &self.tag {
            cmd.env(TAG_VAR, tag);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                if let Some(cg) = cgroup {
                    cg.remove();
                }
                if let Some(task) = reports {
                    task.abort();
                }
                return Err(self.spawn_error(e));
            }
        };
        // Our copy of the report pipe's write end went with `cmd`, dropped here.
        drop(cmd);
        tracing::debug!(program = %self.program.to_string_lossy(), pid = child.id(), cwd = %self.cwd.display(), sandboxed = self.sandbox.is_some(), "Process started.");
        Ok((
            child,
            Confined {
                cgroup,
                reports,
                sockets,
            },
        ))
    }

    /// The program and arguments that start this command inside `sandbox`, and the cgroup
    /// it enters (the process limit goes to the init's `setrlimit` only where no cgroup
    /// holds it).
    fn wrapped(
        &self,
        sandbox: &Sandbox,
    ) -> (OsString, Vec<OsString>, Option<Cgroup>, Vec<PathBuf>) {
        let cgroup = Cgroup::create(&sandbox.policy.limits);
        let mut sandbox = sandbox.clone();
        if cgroup.as_ref().is_some_and(Cgroup::limits_processes) {
            sandbox.policy.limits.processes = None;
        } else if let Some(n) = &mut sandbox.policy.limits.processes {
            let already = u32::try_from(crate::sandbox::user_processes()).unwrap_or(u32::MAX);
            *n = n.saturating_add(already);
        }
        let procs = cgroup.as_ref().map(Cgroup::procs).unwrap_or_default();
        let sockets = crate::sandbox::host_sockets();
        let w = crate::sandbox::wrap(
            &sandbox,
            &self.program,
            &self.args,
            &self.cwd,
            &procs,
            &sockets,
        );
        (w.program, w.args, cgroup, sockets)
    }

    /// Watch the run to its end (step 3 of the module docs), then clean up (step 4).
    async fn supervise<'p>(
        &self,
        mut child: tokio::process::Child,
        run_tag: &str,
        main: &'p mut (dyn AsyncRead + Unpin + Send),
        err: Option<&'p mut (dyn AsyncRead + Unpin + Send)>,
        sink: &mut Sink<'_>,
        err_keep: &mut Captured,
    ) -> ((End, Duration), usize) {
        let start = Instant::now();
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        let mut guard = Guard {
            pgid,
            needle: Some(needle(RUN_VAR, run_tag)),
        };
        let mut pipes = Pipes::new(main, err);
        let (ours, mut status) = self
            .watch(&mut child, &mut guard, &mut pipes, sink, err_keep, start)
            .await;
        let duration = start.elapsed();
        if let Some(why) = ours {
            tracing::debug!(program = %self.program.to_string_lossy(), ?why, "Ending the process and everything it started.");
        }
        // Everything the run started goes, whatever ended it. The group is killed by number
        // only while its leader is unreaped (afterwards the number may be another's).
        let root = if status.is_none() { pgid } else { None };
        let leftovers = kill_tree(root, vec![needle(RUN_VAR, run_tag)]).await;
        guard.disarm();
        if status.is_none() {
            let _ = child.start_kill();
            status = tokio::time::timeout(REAP_AFTER_KILL, child.wait())
                .await
                .ok();
        }
        // What the killed processes wrote before they died.
        let drain = async {
            while let Some(read) = pipes.next().await {
                match read {
                    Read::Main(n) => {
                        sink.push(&pipes.buf[..n]);
                    }
                    Read::Err(n) => err_keep.push(&pipes.ebuf[..n]),
                }
            }
        };
        if tokio::time::timeout(DRAIN_AFTER_KILL, drain).await.is_err() {
            tracing::warn!(program = %self.program.to_string_lossy(), "Output pipes still open after everything was killed; giving up on them.");
        }
        let end = match (ours, status) {
            (Some(end), _) => end,
            (None, Some(Ok(s))) => match (s.code(), s.signal()) {
                (Some(code), _) => End::Exited(code),
                (None, Some(signal)) => End::Signalled(signal),
                (None, None) => End::Lost,
            },
            (None, _) => End::Lost,
        };
        ((end, duration), leftovers)
    }

    /// Read the output and wait for the program until it exits and its pipes close (or the
    /// grace after its exit passes), or one of the limits ends it: `Some(end)` then, with
    /// the exit status if it had one.
    async fn watch(
        &self,
        child: &mut tokio::process::Child,
        guard: &mut Guard,
        pipes: &mut Pipes<'_>,
        sink: &mut Sink<'_>,
        err_keep: &mut Captured,
        start: Instant,
    ) -> (Option<End>, Option<std::io::Result<ExitStatus>>) {
        let deadline = self.time_limit.map(|d| start + d);
        let never = start + Duration::from_secs(100 * 365 * 86_400);
        let mut last_output = start;
        let mut status: Option<std::io::Result<ExitStatus>> = None;
        let mut grace_until: Option<Instant> = None;
        loop {
            if pipes.done() && status.is_some() {
                return (None, status);
            }
            let quiet_at = self.silence_limit.map(|s| last_output + s);
            tokio::select! {
                read = pipes.next(), if !pipes.done() => {
                    last_output = Instant::now();
                    match read {
                        Some(Read::Main(n)) => match sink.push(&pipes.buf[..n]) {
                            Flow::Stop => return (Some(End::Stopped), status),
                            Flow::Continue => {}
                        },
                        Some(Read::Err(n)) => err_keep.push(&pipes.ebuf[..n]),
                        None => {}
                    }
                },
                st = child.wait(), if status.is_none() => {
                    status = Some(st);
                    // Reaped: its number may be another's from now on, so a drop must not
                    // kill the group by it (the tag sweep still finds the stragglers).
                    guard.pgid = None;
                    grace_until = Some(Instant::now() + EXIT_GRACE);
                },
                () = tokio::time::sleep_until(deadline.unwrap_or(never)), if deadline.is_some() && status.is_none() => {
                    return (Some(End::TimedOut), status);
                },
                () = tokio::time::sleep_until(quiet_at.unwrap_or(never)), if quiet_at.is_some() && status.is_none() => {
                    return (Some(End::Silent), status);
                },
                () = tokio::time::sleep_until(grace_until.unwrap_or(never)), if grace_until.is_some() => {
                    return (None, status);
                },
            }
        }
    }
}

/// A name unique to one run on this machine: this process's id, a counter, the time.
fn run_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}.{n}.{nanos}", std::process::id())
}

/// Kills the run's group and sweeps its tag when dropped while armed: the cleanup of a run
/// whose future was dropped before it ended.
struct Guard {
    pgid: Option<i32>,
    needle: Option<Vec<u8>>,
}

impl Guard {
    fn disarm(&mut self) {
        self.pgid = None;
        self.needle = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            tracing::debug!(
                pgid,
                "Run dropped before it ended; killing its process group."
            );
            kill_group(pgid);
        }
        let Some(needle) = self.needle.take() else {
            return;
        };
        // The scan reads /proc: off the async runtime when there is one.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || sweep_blocking(&[needle]));
            }
            Err(_) => {
                sweep_blocking(&[needle]);
            }
        }
    }
}
