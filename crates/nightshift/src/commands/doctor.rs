//! `nightshift doctor`: whether this host can sandbox workers and gates (bubblewrap, user
//! namespaces, our init inside), and what it enforces; the reason and the fix when not.

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::DoctorArgs;

pub async fn run(a: DoctorArgs) -> anyhow::Result<ExitStatus> {
    let init = std::env::current_exe().context("cannot find this binary (the sandbox's init)")?;
    let probe = nightshift_factory::probe_sandbox(&init).await;
    if a.json {
        let works = probe.works.is_ok();
        let mut v = serde_json::to_value(&probe)?;
        v["works"] = works.into();
        if let Err(why) = &probe.works {
            v["reason"] = why.clone().into();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &probe.works {
            Ok(()) => println!(
                "sandbox: works ({})",
                probe
                    .bwrap
                    .as_ref()
                    .map_or_else(String::new, |b| b.display().to_string())
            ),
            Err(why) => println!("sandbox: DOES NOT WORK: {why}"),
        }
        println!(
            "processes per run: {}",
            if probe.enforced.processes_per_run {
                "capped by a cgroup"
            } else {
                "capped per user by setrlimit (no cgroup can be made here)"
            }
        );
        println!(
            "memory per run: {}",
            if probe.enforced.memory {
                "capped by a cgroup"
            } else {
                "NOT capped (no cgroup can be made here)"
            }
        );
        println!(
            "landlock: {}",
            probe.enforced.landlock.map_or_else(
                || "NOT available (the mounts alone keep writes in the worktree)".to_owned(),
                |abi| format!(
                    "ABI {abi}: writes only beneath the writable folders{}",
                    if abi >= 6 { ", no signal out" } else { "" }
                )
            )
        );
        if probe.works.is_ok() {
            println!("seccomp: calls that lead out refused, connections out observed");
        }
    }
    Ok(if probe.works.is_ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
