//! What a resume keeps and finds: accepted work, verified iterations, a commit cut short,
//! `resume` by name, a call the provider received.

use super::*;

/// Iteration 1 is accepted; the factory dies while iteration 2 waits on the model. The
/// accepted commit survives on the branch and the numbering goes on from 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_an_accepted_iteration_keeps_it() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(false),
        slow(),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 3).await;
    let first = {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(states(&its), ["accepted", "running"]);
        its[0].commit_sha.clone().expect("committed")
    };

    let report = resume(&w);
    let job = &report["jobs"][0];
    // 2: interrupted, kept and gated (an empty change: a defect); 3: claims done, verified.
    assert_eq!(summary(job), ("done".into(), 3, 1, 1), "{report:#}");
    assert_eq!(w.provider.served(), 4);
    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted", "rejected", "verified"]);
    assert_eq!(its[0].commit_sha.as_deref(), Some(first.as_str()));
    assert_eq!(its[0].base_sha, base);
    assert_eq!(
        its[1].base_sha, first,
        "iteration 2 started from the accepted work"
    );
    assert_eq!(
        its[2].base_sha, first,
        "the rejected iteration was reset away"
    );
    assert_eq!(job["head"].as_str(), Some(first.as_str()));

    let m = mirror(&w);
    assert!(
        git(&m, &["merge-base", "--is-ancestor", &first, BRANCH]).is_empty(),
        "the accepted commit is on the branch"
    );
    assert_eq!(
        git(&m, &["show", &format!("{BRANCH}:calc.py")]),
        "def add(a, b):\n    return a + b"
    );

    let (outcomes, total) = by_outcome(&w);
    let interrupted = outcomes["interrupted"][1]
        .as_i64()
        .expect("interrupted row");
    assert_eq!(
        outcomes,
        json!({"interrupted": [1, interrupted], "ok": [3, EDIT + 2 * FINISH]})
    );
    assert_eq!(total, EDIT + 2 * FINISH + interrupted);
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// A verified iteration (the agent claims done and changes nothing; the gates confirm it)
/// has nothing to land: the job's branch, in the mirror and where it landed, holds the
/// accepted commits only, and its tip is the job's head. (The iteration's empty commit is
/// kept under its own ref, like every iteration.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_iteration_leaves_no_commit_on_the_branch() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(false),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    let (code, report, stderr) = w.run_json(&RUN);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 2, 1, 0), "{report:#}");
    let s = store(&w).await;
    assert_eq!(states(&iterations(&w, &s).await), ["accepted", "verified"]);
    let m = mirror(&w);
    let first = git(&m, &["rev-parse", &ref_of(1)]);
    assert_eq!(job["head"].as_str(), Some(first.as_str()));
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        first,
        "the branch holds exactly the accepted commit"
    );
    if job["landing"] == "pushed" {
        assert_eq!(
            git(&w.path("calc"), &["rev-parse", BRANCH]),
            first,
            "what landed is the accepted work"
        );
    }
}

/// Killed (with its git commands) while staging the agent's change for the iteration's
/// commit: a git clean filter that takes its time holds `git add` at that moment. The
/// resume clears the lock git left, commits the change as iteration 1 and gates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_commit_then_resume() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(true),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    let marker = w.path("commit-started");
    let filter = w.path("slow-clean.sh");
    std::fs::write(
        &filter,
        format!(
            "#!/bin/sh\nif [ ! -e '{m}' ]; then touch '{m}'; sleep 10; fi\nexec cat\n",
            m = marker.display()
        ),
    )
    .expect("filter");
    std::fs::set_permissions(&filter, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let attributes = w.path("attributes");
    std::fs::write(&attributes, "calc.py filter=slowclean\n").expect("attributes");
    let gitconfig = w.path("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[core]\n\tattributesFile = {}\n[filter \"slowclean\"]\n\tclean = {}\n",
            attributes.display(),
            filter.display()
        ),
    )
    .expect("gitconfig");
    let env: [(&str, &Path); 1] = [("GIT_CONFIG_GLOBAL", &gitconfig)];

    let mut child = spawn(&w, &env);
    wait_for(&mut child, "the commit to start", || marker.exists()).await;
    kill9_group(child);
    assert_eq!(w.provider.served(), 2, "the agent had finished");
    let wt = w.path(".nightshift/worktrees/fix-calc/calc");
    let lock = git(
        &wt,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "index.lock",
        ],
    );
    assert!(
        Path::new(&lock).exists(),
        "killed half-way through staging: git left its index lock"
    );
    {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(
            states(&its),
            ["running"],
            "killed before the commit was recorded"
        );
    }

    let (code, report, stderr) = run_with_env(&w, &RUN, &env);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    // The claim of iteration 1 died with the factory before it was recorded: its change is
    // accepted, and iteration 2 (a fresh claim on the accepted work) verifies it.
    assert_eq!(summary(job), ("done".into(), 2, 1, 0), "{report:#}");
    assert_eq!(w.provider.served(), 3);

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted", "verified"]);
    assert_eq!(its[0].base_sha, base);
    assert_eq!(its[0].files, 1, "iteration 1 holds the agent's change");
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["show", &format!("{}:calc.py", ref_of(1))]),
        "def add(a, b):\n    return a + b"
    );
    assert_eq!(job["head"].as_str(), its[0].commit_sha.as_deref());
    assert!(
        git(&m, &["merge-base", "--is-ancestor", &ref_of(1), BRANCH]).is_empty(),
        "the accepted commit is on the branch"
    );

    let (outcomes, total) = by_outcome(&w);
    assert_eq!(outcomes, json!({"ok": [3, EDIT + 2 * FINISH]}));
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// `nightshift resume SHIFT` does what a second `run` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_by_name_after_a_kill() {
    let w = World::new(Script::new([slow(), edit("a - b", "a + b"), finish(true)])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 1).await;
    let (code, report, stderr) = w.run_json(&[
        "resume",
        "fix-calc",
        "--config",
        "nightshift.toml",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&report["jobs"][0]),
        ("done".into(), 2, 1, 1),
        "{report:#}"
    );
    let s = store(&w).await;
    iterations(&w, &s).await;
    // Resuming a finished shift reports it and runs nothing.
    let again = resume(&w);
    assert_eq!(again, report);
    assert_eq!(w.provider.served(), 3);
}

/// The gateway writes a call's write-ahead record before it sends the call upstream, so a
/// call the provider has received (and will bill) is in the ledger after `kill -9` at any
/// moment — here the earliest: as soon as the provider has the request. Many tries, as the
/// window is short (about one try in ten loses the call here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_provider_received_is_in_the_ledger_after_kill_9() {
    for attempt in 1..=30 {
        let w = World::new(Script::new([slow()])).await;
        python_repo(&w.path("calc"));
        w.spec(&spec(TESTS).replace("max_iterations = 5", "max_iterations = 1"));
        let mut child = spawn(&w, &[]);
        let provider = &w.provider;
        poll(
            &mut child,
            "the model call",
            Duration::from_millis(1),
            || !provider.requests().is_empty(),
        )
        .await;
        kill9(child);
        // The next start settles what the crash left in flight; the one iteration is kept
        // and gated, and the job stops at its limit without calling the model again.
        let report = resume(&w);
        assert_eq!(summary(&report["jobs"][0]).0, "max_iterations");
        let (outcomes, _) = by_outcome(&w);
        assert_eq!(
            outcomes["interrupted"][0], 1,
            "attempt {attempt}: the call the provider received is in the ledger: {outcomes}"
        );
    }
}
