//! Killed in the middle of something: a model call, an agent's command, a gate.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_model_call_then_resume() {
    let w = World::new(Script::new([slow(), edit("a - b", "a + b"), finish(true)])).await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 1).await;

    let report = resume(&w);
    let job = &report["jobs"][0];
    // Iteration 1 (the agent's context died with the factory; nothing was changed) is kept
    // and gated as it stood — an empty change, a defect — and iteration 2 does the work.
    assert_eq!(summary(job), ("done".into(), 2, 1, 1), "{report:#}");
    assert_eq!(
        job["defects_by_gate"],
        json!({"non-empty-change": 1, "python3 -m unittest": 1})
    );
    assert_eq!(w.provider.served(), 3, "the slow call is not made again");

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["rejected", "accepted"]);
    assert_eq!(its[0].worker_stop, Some(WorkerStop::Failed));
    assert_eq!(its[0].base_sha, base);

    // The write-ahead row of the interrupted call became one ledger row, billed at its
    // reservation; the two later calls are billed exactly; nothing else.
    let rows = ledger(&s).await;
    let interrupted: Vec<&LedgerRow> = rows
        .iter()
        .filter(|r| r.outcome == CallOutcome::Interrupted)
        .collect();
    assert_eq!(interrupted.len(), 1, "{rows:#?}");
    let reserved = interrupted[0].reserved_nanos;
    assert!(reserved > 0);
    assert_eq!(interrupted[0].settled_nanos, reserved);
    assert_eq!(interrupted[0].usage_source, UsageSource::Reserved);
    let mut ok: Vec<i64> = rows
        .iter()
        .filter(|r| r.outcome == CallOutcome::Ok)
        .map(|r| r.settled_nanos)
        .collect();
    ok.sort_unstable();
    assert_eq!(ok, [EDIT, FINISH], "{rows:#?}");
    assert_eq!(rows.len(), 3, "{rows:#?}");

    let (outcomes, total) = by_outcome(&w);
    assert_eq!(
        outcomes,
        json!({"interrupted": [1, reserved], "ok": [2, EDIT + FINISH]})
    );
    assert_eq!(total, EDIT + FINISH + reserved);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(3), Some(total)),
        "the report counts the interrupted call once, at its reservation"
    );
    // The resumed job's budget is what was left after the interrupted call.
    let events = s.events("fix-calc", 0).await.expect("events");
    let budgets: Vec<i64> = events
        .iter()
        .filter_map(|e| match e.event {
            Event::JobStarted {
                budget_left_nanos, ..
            } => Some(budget_left_nanos),
            _ => None,
        })
        .collect();
    assert_eq!(budgets, [500_000_000, 500_000_000 - reserved]);
    assert!(
        interrupted[0].label_chain.ends_with("/calc"),
        "billed to the job: {}",
        interrupted[0].label_chain
    );

    // The branch holds the one accepted commit: iteration 2.
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        git(&m, &["rev-parse", &ref_of(2)])
    );
    assert_eq!(
        git(&m, &["show", &format!("{BRANCH}:calc.py")]),
        "def add(a, b):\n    return a + b"
    );
}

/// The agent's command left running by a killed factory — in a session of its own, out of
/// reach of any process-group kill — is ended when the job resumes: every process the
/// factory starts for a job carries the job's tag in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_agent_command_then_resume_ends_the_command() {
    // The script is written before the world exists: the marker lives beside it, in a
    // folder of its own outside the worktree.
    let outside = tempfile::tempdir().expect("a folder");
    let marker = outside.path().join("command-started");
    let command = format!(
        "setsid sh -c 'echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 86404' < /dev/null > /dev/null 2>&1 & sleep 60",
        m = marker.display()
    );
    let w = World::new(Script::new([
        Step::tool_call("run", json!({ "command": command })).with_usage(1000, 10),
        edit("a - b", "a + b"),
        finish(true),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(&unconfined(&spec(TESTS)));
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the agent's command to start", || {
        marker.exists()
    })
    .await;
    kill9(child);
    let pid = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .to_string();
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "))
    };
    assert!(alive(&pid), "the orphaned command is still running");

    let report = resume(&w);
    assert!(!alive(&pid), "the orphaned command was ended on resume");
    let job = &report["jobs"][0];
    // The interrupted iteration is kept and gated (the tests still fail), the next one fixes.
    assert_eq!(summary(job), ("done".into(), 2, 1, 1), "{report:#}");
    assert_eq!(w.provider.served(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_gate_then_resume() {
    let w = World::new(Script::new([edit("a - b", "a + b"), finish(true)])).await;
    let base = python_repo(&w.path("calc"));
    // The gate runs with a cleared environment: the marker's absolute path is in its text.
    // It takes its time only the first time, so the resumed gate is quick. The marker holds
    // the gate's process group (the gate leads one of its own).
    let marker = w.path("gate-started");
    let gate = format!(
        "if [ ! -e '{m}' ]; then echo $$ > '{m}.tmp'; mv '{m}.tmp' '{m}'; sleep 30; fi; {TESTS}",
        m = marker.display()
    );
    w.spec(&unconfined(&spec(&gate)));
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the gate to start", || marker.exists()).await;
    kill9(child);
    // The killed factory's gate lives on, orphaned, sleeping 30 s in the worktree; the
    // resumed run must end it before it starts, so the resumed gate runs alone.
    let gate_group = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .to_string();
    assert!(
        Path::new(&format!("/proc/{gate_group}")).exists(),
        "the orphaned gate is still running"
    );
    assert_eq!(w.provider.served(), 2, "the agent had finished");

    // Killed while gating: the store has iteration 1 committed, not yet judged.
    {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(states(&its), ["committed"]);
    }

    let report = resume(&w);
    let gone = !Path::new(&format!("/proc/{gate_group}")).exists()
        || std::fs::read_to_string(format!("/proc/{gate_group}/stat"))
            .is_ok_and(|st| st.contains(") Z "));
    assert!(gone, "the orphaned gate was ended on resume");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 1, 1, 0), "{report:#}");
    assert_eq!(
        w.provider.served(),
        2,
        "the iteration is gated again, not re-run"
    );

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted"]);
    assert!(its[0].claims_done, "the agent's claim survived the crash");
    let gates = s.gate_results("fix-calc", "calc", 1).await.expect("gates");
    assert!(
        !gates.is_empty() && gates.iter().all(|g| g.passed),
        "{gates:#?}"
    );

    let m = mirror(&w);
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        git(&m, &["rev-parse", &ref_of(1)]),
        "exactly one commit on the branch beyond its base: iteration 1"
    );
    assert_eq!(
        job["head"].as_str(),
        Some(its[0].commit_sha.as_deref().unwrap_or(""))
    );

    // Both calls were settled before the gate: the ledger has them once each, exactly.
    let (outcomes, total) = by_outcome(&w);
    assert_eq!(outcomes, json!({"ok": [2, EDIT + FINISH]}));
    assert_eq!(total, EDIT + FINISH);
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// Review finding: `nightshift run` had no signal handler, so Ctrl-C ended the factory and
/// left every gate, agent command and agent CLI it had started running (each in a process
/// group of its own) until a later resume reaped them. SIGINT now ends them first — here an
/// agent's command that started a daemon in a session of its own — and exits 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_everything_the_shift_started_and_exits_130() {
    let outside = tempfile::tempdir().expect("a folder");
    let marker = outside.path().join("daemon-started");
    let command = format!(
        "setsid sh -c 'echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 86405' < /dev/null > /dev/null 2>&1 & sleep 60",
        m = marker.display()
    );
    let w = World::new(Script::new([
        Step::tool_call("run", json!({ "command": command })).with_usage(1000, 10),
        finish(false),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(&unconfined(&spec(TESTS)));
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the agent's command to start", || {
        marker.exists()
    })
    .await;
    let pid = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .to_string();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{status}");
    let alive =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "));
    assert!(
        !alive,
        "the daemon the agent's command started outlived the run"
    );
    // Where the job stood is kept: a resume continues it.
    let report = resume(&w);
    assert_eq!(report["state"], "finished", "{report:#}");
}

/// In the sandbox nothing of a job outlives the factory: killed with `-9` mid-gate, its
/// gate dies with it (bubblewrap dies with its parent, and the gate's PID namespace with
/// bubblewrap), and the resumed run gates the kept commit afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxed_processes_die_with_a_killed_factory() {
    let w = World::new(Script::new([edit("a - b", "a + b"), finish(true)])).await;
    python_repo(&w.path("calc"));
    // The marker goes in the gates' private home (kept while the iteration lasts); the
    // sleeper is found by its unusual length.
    let gate = format!(
        "if [ ! -e \"$HOME/started\" ]; then touch \"$HOME/started\"; sleep 86407; fi; {TESTS}"
    );
    w.spec(&spec(&gate));
    let marker = w.path(".nightshift/scratch/fix-calc/calc/gate-home/started");
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the gate to start", || marker.exists()).await;
    kill9(child);
    let sleeping = || {
        let out = Command::new("pgrep")
            .args(["-f", "sleep 86407"])
            .output()
            .expect("pgrep runs");
        !out.stdout.is_empty()
    };
    let mut gone = false;
    for _ in 0..100 {
        if !sleeping() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "the sandboxed gate outlived the factory");
    let report = resume(&w);
    assert_eq!(
        summary(&report["jobs"][0]),
        ("done".into(), 1, 1, 0),
        "{report:#}"
    );
}
