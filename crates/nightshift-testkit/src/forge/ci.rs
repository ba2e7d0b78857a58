//! The stand-in's CI: on each new head of an open pull request in a repository with CI,
//! the command runs in a fresh clone at that commit and its verdict is posted as a check
//! run (in progress first, then completed with the end of its output), as a CI service
//! posts through the checks API.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use super::state::CheckRun;

/// Output kept in a check run's `output.text`.
const LOG_TAIL: usize = 4096;

pub async fn run(shared: Arc<Shared>) {
    loop {
        for job in due(&shared) {
            let shared = shared.clone();
            #[expect(
                clippy::disallowed_methods,
                reason = "a CI build ends on its own; its verdict is written into the forge's state, and a build cut off by the stand-in's end has no one left to report to"
            )]
            tokio::spawn(async move { build(shared, job).await });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Job {
    repo: String,
    sha: String,
    run_id: u64,
    command: String,
    bare: std::path::PathBuf,
}

/// Heads CI has not seen yet, each marked seen with its check run posted in progress.
fn due(shared: &Shared) -> Vec<Job> {
    let mut f = shared.lock();
    f.refresh_merged();
    let mut heads: Vec<(String, String, String, String, String)> = Vec::new();
    for p in f.pulls.iter().filter(|p| !p.closed) {
        let Some((name, command)) = f.repos.get(&p.repo).and_then(|r| r.ci.clone()) else {
            continue;
        };
        let Some(sha) = f.branch_sha(&p.repo, &p.head) else {
            continue;
        };
        let key = format!("{}@{sha}", p.repo);
        if !f.ci_seen.contains(&key) && !heads.iter().any(|(k, ..)| *k == key) {
            heads.push((key, p.repo.clone(), sha, name, command));
        }
    }
    let mut jobs = Vec::new();
    for (key, repo, sha, name, command) in heads {
        let (id, at) = (f.id(), f.tick());
        f.runs.entry(key.clone()).or_default().push(CheckRun {
            id,
            name,
            status: "in_progress".into(),
            conclusion: None,
            title: None,
            summary: None,
            text: None,
            started: at,
            completed: None,
        });
        f.ci_seen.insert(key);
        f.ci_started += 1;
        f.ci_running += 1;
        let bare = f.repos[&repo].bare.clone();
        jobs.push(Job {
            repo,
            sha,
            run_id: id,
            command,
            bare,
        });
    }
    jobs
}

async fn build(shared: Arc<Shared>, job: Job) {
    let (ok, log) = match checkout_and_run(&job).await {
        Ok(v) => v,
        Err(e) => (false, format!("the CI could not start: {e}")),
    };
    let mut f = shared.lock();
    let at = f.tick();
    if let Some(run) = f
        .runs
        .get_mut(&format!("{}@{}", job.repo, job.sha))
        .and_then(|rs| rs.iter_mut().find(|r| r.id == job.run_id))
    {
        run.status = "completed".into();
        run.conclusion = Some(if ok { "success" } else { "failure" }.into());
        run.completed = Some(at);
        run.title = Some(if ok { "Tests passed" } else { "Tests failed" }.into());
        run.summary = Some(format!(
            "`{}` {}",
            job.command,
            if ok { "passed" } else { "failed" }
        ));
        run.text = Some(tail(&log));
    }
    f.ci_running -= 1;
}

async fn checkout_and_run(job: &Job) -> std::io::Result<(bool, String)> {
    let dir = tempdir()?;
    let clone = tokio::process::Command::new("git")
        .args(["clone", "--quiet", "--no-checkout"])
        .arg(&job.bare)
        .arg(&dir)
        .output()
        .await?;
    if !clone.status.success() {
        return Ok((false, String::from_utf8_lossy(&clone.stderr).into_owned()));
    }
    let checkout = tokio::process::Command::new("git")
        .args([
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            &job.sha,
        ])
        .current_dir(&dir)
        .output()
        .await?;
    if !checkout.status.success() {
        return Ok((
            false,
            String::from_utf8_lossy(&checkout.stderr).into_owned(),
        ));
    }
    let out = tokio::process::Command::new("sh")
        .args(["-c", &job.command])
        .current_dir(&dir)
        .kill_on_drop(true)
        .output()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), log))
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("forge-ci-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap_or(&std::env::temp_dir()))?;
    Ok(dir)
}

fn tail(log: &str) -> String {
    if log.len() <= LOG_TAIL {
        return log.to_string();
    }
    let mut start = log.len() - LOG_TAIL;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_string()
}
