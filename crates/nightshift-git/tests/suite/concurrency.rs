//! Many jobs at once on one mirror.

use std::sync::Arc;

use nightshift_git::{iteration_prefix, iteration_ref, job_branch};

use super::{Fixture, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_worktrees_and_commits_on_one_mirror_all_succeed_while_it_is_refreshed() {
    const JOBS: u32 = 20;
    const ITERATIONS: u32 = 3;
    let fx = Arc::new(Fixture::new(&[("shared.txt", "base\n")]).await);
    let mirror = Arc::new(fx.mirror().await);

    let mut set = tokio::task::JoinSet::new();
    for job in 0..JOBS {
        let fx = Arc::clone(&fx);
        let mirror = Arc::clone(&mirror);
        set.spawn(async move {
            let name = format!("job{job}");
            let wt = mirror
                .worktree(&fx.worktree_path(&name), &job_branch("s", &name), "main")
                .await
                .expect("worktree");
            let mut shas = Vec::new();
            for n in 1..=ITERATIONS {
                write(wt.path(), "shared.txt", &format!("{name} iteration {n}\n"));
                let sha = wt.commit_all(&format!("{name} {n}")).await.expect("commit");
                mirror
                    .update_ref(&iteration_ref("s", &name, n), &sha)
                    .await
                    .expect("update_ref");
                shas.push(sha);
            }
            let head = wt.head().await.expect("head");
            (name, shas, head)
        });
    }
    // Refreshes of the same mirror meanwhile, with upstream moving on.
    super::commit_files(
        &fx.upstream,
        &[("upstream.txt", "new\n")],
        "upstream moves on",
    );
    let mut refreshes = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let fx = Arc::clone(&fx);
        refreshes.spawn(async move { fx.mirror().await });
    }
    while let Some(joined) = refreshes.join_next().await {
        joined.expect("refresh task");
    }

    let mut finished = 0;
    while let Some(joined) = set.join_next().await {
        let (name, shas, head) = joined.expect("task");
        assert_eq!(head, shas[shas.len() - 1]);
        let refs = mirror
            .refs(&iteration_prefix("s", &name))
            .await
            .expect("refs");
        let want: Vec<(String, String)> = shas
            .iter()
            .enumerate()
            .map(|(i, sha)| (format!("refs/nightshift/s/{name}/{}", i + 1), sha.clone()))
            .collect();
        assert_eq!(refs, want, "{name}");
        assert_eq!(
            mirror
                .resolve(&format!("refs/heads/{}", job_branch("s", &name)))
                .await
                .expect("resolve"),
            Some(head)
        );
        finished += 1;
    }
    assert_eq!(finished, JOBS);
    assert_eq!(
        mirror.refs("refs/nightshift/s").await.expect("refs").len(),
        usize::try_from(JOBS * ITERATIONS).expect("fits")
    );
}
