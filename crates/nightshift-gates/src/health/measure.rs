//! Running the analysers on one side of a change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_process::{Command, End, Sandbox};

use super::{Side, parse};
use crate::test_scan::{Language, scan};

/// The binaries of the analysers: `NIGHTSHIFT_LIZARD_BIN` / `NIGHTSHIFT_RUFF_BIN`, else the
/// name on `PATH`, else the newest complete install of `scripts/install-health-tools.sh`
/// (`$NIGHTSHIFT_TOOLS_CACHE`, default `~/.cache/nightshift`, `health/<versions>/bin`).
#[derive(Debug, Clone)]
pub struct Tools {
    pub lizard: Option<PathBuf>,
    pub ruff: Option<PathBuf>,
}

impl Tools {
    /// Find the tools with `env` reading a variable (the process environment in use).
    pub fn find(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let cache = env("NIGHTSHIFT_TOOLS_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache/nightshift")));
        let installed = cache.and_then(|c| newest_install(&c.join("health")));
        let find = |var: &str, name: &str| {
            env(var).map(PathBuf::from).or_else(|| {
                let on_path = env("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .find(|f| f.is_file())
                });
                on_path.or_else(|| {
                    installed
                        .as_ref()
                        .map(|d| d.join("bin").join(name))
                        .filter(|f| f.is_file())
                })
            })
        };
        Self {
            lizard: find("NIGHTSHIFT_LIZARD_BIN", "lizard"),
            ruff: find("NIGHTSHIFT_RUFF_BIN", "ruff"),
        }
    }
}

fn newest_install(dir: &Path) -> Option<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(".complete").is_file())
        .collect();
    all.sort();
    all.pop()
}

/// What to measure.
#[derive(Debug, Clone, Default)]
pub struct Analysers {
    pub clippy: bool,
    pub ruff: bool,
    pub complexity: bool,
    pub duplication: bool,
    pub tests: bool,
    /// A command printing the coverage.
    pub coverage: Option<String>,
    pub timeout: Duration,
}

/// Extensions lizard reads.
const LIZARD_EXTENSIONS: &[&str] = &[
    "py", "rs", "js", "jsx", "mjs", "ts", "tsx", "go", "java", "kt", "c", "cc", "cpp", "h", "hpp",
    "cs", "rb", "php", "swift", "scala", "lua",
];

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Measure one side: `dir` holds the tree, `files` the changed paths that exist on this side
/// (relative, `/`-separated) with their text.
pub async fn measure(
    dir: &Path,
    files: &[(String, String)],
    a: &Analysers,
    tools: &Tools,
    tag: &str,
    sandbox: Option<&Sandbox>,
) -> Side {
    let runner = Runner {
        dir,
        tag,
        sandbox,
        timeout: a.timeout,
    };
    let mut side = Side::default();
    if a.tests {
        let n: usize = files
            .iter()
            .filter_map(|(p, text)| Language::from_path(p).map(|l| scan(l, text, true).tests.len()))
            .sum();
        side.tests = Some(n as u64);
    }
    if a.complexity || a.duplication {
        match lizard(&runner, files, tools).await {
            Ok((functions, duplicated)) => {
                side.functions = a.complexity.then_some(functions);
                side.duplicated_lines = a.duplication.then_some(duplicated);
            }
            Err(e) => side.errors.push(e),
        }
    }
    if a.ruff || a.clippy {
        let ruff = if a.ruff {
            ruff(&runner, files, tools).await
        } else {
            Ok(0)
        };
        let clippy = if a.clippy {
            clippy(&runner).await
        } else {
            Ok(0)
        };
        match (ruff, clippy) {
            (Ok(r), Ok(c)) => side.lint_warnings = Some(r + c),
            (r, c) => side.errors.extend(r.err().into_iter().chain(c.err())),
        }
    }
    if let Some(cov) = &a.coverage {
        let run = output(runner.command(Command::shell(cov, dir))).await;
        match run.and_then(|t| {
            parse::parse_coverage(&t).ok_or_else(|| format!("`{cov}` printed no percentage"))
        }) {
            Ok(c) => side.coverage_centi = Some(c),
            Err(e) => side.errors.push(format!("coverage: {e}")),
        }
    }
    side
}

/// Where and how an analyser runs.
struct Runner<'a> {
    dir: &'a Path,
    tag: &'a str,
    sandbox: Option<&'a Sandbox>,
    timeout: Duration,
}

impl Runner<'_> {
    fn command(&self, cmd: Command) -> Command {
        let cmd = cmd.tag(self.tag).time_limit(self.timeout);
        match self.sandbox {
            Some(s) => cmd.sandbox(s.clone()),
            None => cmd,
        }
    }

    fn program(&self, program: &Path, args: Vec<String>) -> Command {
        self.command(Command::new(program, self.dir).args(args))
    }
}

/// The changed files with one of `extensions`.
fn with_extension(files: &[(String, String)], extensions: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| extensions.contains(&extension(p)))
        .collect()
}

/// lizard on the changed files it reads: their functions and duplicated lines.
async fn lizard(
    runner: &Runner<'_>,
    files: &[(String, String)],
    tools: &Tools,
) -> Result<(Vec<super::Function>, u64), String> {
    let sources = with_extension(files, LIZARD_EXTENSIONS);
    if sources.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let lizard = tools.lizard.as_ref().ok_or(
        "lizard is not installed: run scripts/install-health-tools.sh or set NIGHTSHIFT_LIZARD_BIN",
    )?;
    let mut args = vec!["--csv".to_owned(), "-Eduplicate".to_owned()];
    args.extend(sources);
    let text = output(runner.program(lizard, args))
        .await
        .map_err(|e| format!("lizard: {e}"))?;
    Ok(parse::parse_lizard(&text))
}

/// ruff's diagnostics on the changed Python files.
async fn ruff(
    runner: &Runner<'_>,
    files: &[(String, String)],
    tools: &Tools,
) -> Result<u64, String> {
    let py = with_extension(files, &["py", "pyi"]);
    if py.is_empty() {
        return Ok(0);
    }
    let ruff = tools.ruff.as_ref().ok_or(
        "ruff is not installed: run scripts/install-health-tools.sh or set NIGHTSHIFT_RUFF_BIN",
    )?;
    let mut args: Vec<String> = [
        "check",
        "--output-format",
        "json",
        "--exit-zero",
        "--no-cache",
        "--",
    ]
    .map(str::to_owned)
    .into();
    args.extend(py);
    output(runner.program(ruff, args))
        .await
        .and_then(|t| parse::parse_ruff(&t))
        .map_err(|e| format!("ruff: {e}"))
}

/// clippy's warnings on the workspace.
async fn clippy(runner: &Runner<'_>) -> Result<u64, String> {
    let args = [
        "clippy",
        "--quiet",
        "--all-targets",
        "--message-format=json",
    ]
    .map(str::to_owned)
    .into();
    output(runner.program(Path::new("cargo"), args))
        .await
        .map(|t| parse::parse_clippy(&t))
        .map_err(|e| format!("cargo clippy: {e}"))
}

/// Run to the end: the output when it exits 0 (clippy exits non-zero on errors; warnings
/// are exit 0).
async fn output(cmd: Command) -> Result<String, String> {
    let run = cmd
        .output(crate::command::OUTPUT_CAP_BYTES)
        .await
        .map_err(|e| e.source.to_string())?;
    let text = run.output.text();
    match run.end {
        End::Exited(0) => Ok(text),
        end => Err(format!(
            "ended with {end:?}: {}",
            crate::result::tail_excerpt(&text, 400)
        )),
    }
}
