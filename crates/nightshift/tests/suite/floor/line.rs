//! The line stops itself: a shift whose iterations keep failing their gates pauses at the
//! threshold, says why, and counts afresh once a supervisor resumes it.

use std::time::Duration;

use nightshift_store::{Control, Event, FactoryStore};

use super::{start_run, until, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_whose_gates_keep_failing_pauses_itself_at_the_threshold() {
    let w = world(
        "defects",
        "[line]\nmax_defect_percent = 75\ndefect_window = 4\n",
    )
    .await;
    // Every iteration fails its gate, each with a change of its own (a rejected change
    // made twice in a row would stall the job first).
    let text = std::fs::read_to_string(w.path("shift.toml")).expect("spec");
    w.spec(
        &text
            .replace("commands = []", "commands = [\"false\"]")
            .replace("echo >> notes.log", "date +%s%N >> notes.log"),
    );
    let run = start_run(&w);
    let store = super::super::factory_resume::store(&w).await;
    let pauses = || async {
        store
            .events_of("defects", "control")
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.job.is_none())
            .map(|e| e.event)
            .collect::<Vec<_>>()
    };
    until(Duration::from_secs(40), "the line to stop", || async {
        (!pauses().await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let its = store
        .iterations("defects", "calc")
        .await
        .expect("iterations");
    assert_eq!(
        its.len(),
        4,
        "paused after the 4th defect in a window of 4, no later"
    );
    assert!(
        its.iter()
            .all(|i| i.state == nightshift_store::IterationState::Rejected)
    );
    assert_eq!(
        pauses().await,
        [Event::Control {
            action: Control::Pause,
            by: "line".into(),
            reason: Some(
                "4 of the shift's last 4 iterations were defects (line.max_defect_percent = 75)"
                    .into()
            ),
        }]
    );

    // Resumed by a supervisor: four more, and it stops again.
    super::ok(w.dir.path(), &["resume", "defects"]);
    until(
        Duration::from_secs(40),
        "the line to stop again",
        || async { (pauses().await.len() == 3).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store
            .iterations("defects", "calc")
            .await
            .expect("iterations")
            .len(),
        8
    );

    // Killed while paused: the job stops, the run ends.
    super::ok(w.dir.path(), &["kill", "defects", "calc"]);
    let (code, out) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        store
            .iterations("defects", "calc")
            .await
            .expect("iterations")
            .len(),
        8
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_spending_faster_than_its_rate_pauses_itself() {
    use super::super::factory::{edit, finish};
    // Each iteration makes two calls of known usage: $0.00634 an iteration; the line
    // allows $0.01 an hour over a 60-minute window, so the second iteration passes it.
    let w = super::super::factory::World::new(nightshift_testkit::Script::cycling([
        edit("a - b", "a + b"),
        finish(false),
    ]))
    .await;
    super::super::factory::python_repo(&w.path("calc"));
    w.spec(
        r#"name = "spender"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"

[stop]
max_iterations = 6
stall_iterations = 6

[budget]
shift_usd = 1
job_usd = "0.50"

[line]
max_usd_per_hour = "0.01"
spend_window_minutes = 60
"#,
    );
    let run = start_run(&w);
    let store = super::super::factory_resume::store(&w).await;
    let pauses = || async {
        store
            .events_of("spender", "control")
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.event)
            .collect::<Vec<_>>()
    };
    until(Duration::from_secs(40), "the line to stop", || async {
        (!pauses().await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store
            .iterations("spender", "calc")
            .await
            .expect("iterations")
            .len(),
        2
    );
    assert_eq!(
        pauses().await,
        [Event::Control {
            action: Control::Pause,
            by: "line".into(),
            reason: Some(
                "the shift spent $0.01268 in the last 60 minutes, faster than $0.01 an hour (line.max_usd_per_hour)".into()
            ),
        }]
    );
    super::ok(w.dir.path(), &["kill", "spender", "calc"]);
    let (code, out) = run.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{out}");
}
