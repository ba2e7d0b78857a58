mod kill;
mod run;
mod sandbox;

use std::path::Path;
use std::time::Duration;

/// Whether process `pid` is gone (a zombie waiting for its reaper counts as gone: it runs no
/// more code and holds nothing but its process table entry).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Poll for up to two seconds for `pid` to be gone.
pub async fn wait_gone(pid: u32) -> bool {
    for _ in 0..40 {
        if process_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The pid a command wrote to `name` in `dir`, waiting up to two seconds for it.
pub async fn read_pid(dir: &Path, name: &str) -> u32 {
    for _ in 0..40 {
        if let Ok(text) = std::fs::read_to_string(dir.join(name))
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pid in {name}");
}
