//! The two kernel layers the init adds under bubblewrap's namespaces and mounts. Each is
//! applied to the init's own main thread only, just before it starts the program, which
//! inherits both; the init's other threads (the gateway relay, the [`super::watch`]er) were
//! started before and stay outside them.
//!
//! - **Landlock** (the `landlock` crate, best effort below ABI 6): the whole tree readable
//!   and executable, writable only beneath the policy's writable folders, the private home,
//!   `/tmp`, `/dev` and `/proc` — so a write stays refused even where a mount were
//!   mis-made; no signal and no abstract Unix socket reaches a process outside the run.
//!   Its network rules are not used: they cannot tell a test's own loopback server from a
//!   port of the host, and the empty network namespace already holds that line.
//! - **seccomp** (`libseccomp`): the calls that lead out of a sandbox or into the kernel
//!   ([`REFUSED`]) and every `connect` (and `sendto` with an address) go to the watcher,
//!   which refuses or lets them through and reports what it saw. This layer is what makes
//!   those attempts observable; the namespaces are what make them fail.

use std::os::fd::RawFd;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, path_beneath_rules,
};
use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

/// The Landlock ABI whose rights are asked for (what a kernel lacks of them is dropped).
const LANDLOCK_ABI: ABI = ABI::V6;

/// Writable in every run besides the policy's folders: the private `/tmp` (and
/// `/dev/shm`), `/dev` (`null`, `tty`) and `/proc` (a process's own files there).
pub(crate) const ALWAYS_WRITABLE: &[&str] = &["/tmp", "/dev", "/proc"];

/// System calls refused with `EPERM` and reported: namespaces and mounts, tracing and
/// reading other processes' memory, the kernel's keyring, BPF, modules, reboot and swap.
pub const REFUSED: &[&str] = &[
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "perf_event_open",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "iopl",
    "ioperm",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
];

/// Confine this thread (and what it starts) with Landlock, writable beneath `writable`
/// only (which holds [`ALWAYS_WRITABLE`]); says how far the kernel enforces it.
pub(crate) fn landlock(writable: &[PathBuf]) -> Result<RulesetStatus, String> {
    let abi = LANDLOCK_ABI;
    let everywhere = path_beneath_rules(["/"], AccessFs::from_read(abi));
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(everywhere))
        .and_then(|r| r.add_rules(path_beneath_rules(writable, AccessFs::from_all(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("Landlock: {e}"))?;
    Ok(status.ruleset)
}

/// The highest Landlock ABI, up to [`LANDLOCK_ABI`], whose rights this kernel takes in
/// full (a ruleset made and dropped, nothing restricted).
pub(crate) fn landlock_abi() -> Option<u8> {
    let abis = [
        (ABI::V6, 6),
        (ABI::V5, 5),
        (ABI::V4, 4),
        (ABI::V3, 3),
        (ABI::V2, 2),
        (ABI::V1, 1),
    ];
    abis.into_iter()
        .find(|(abi, _)| {
            Ruleset::default()
                .set_compatibility(CompatLevel::HardRequirement)
                .handle_access(AccessFs::from_all(*abi))
                .and_then(|r| match Scope::from_all(*abi).is_empty() {
                    true => Ok(r),
                    false => r.scope(Scope::from_all(*abi)),
                })
                .and_then(Ruleset::create)
                .is_ok()
        })
        .map(|(_, n)| n)
}

/// Install the system-call filter on this thread; the filter (kept alive by the caller for
/// as long as the program runs) and the file descriptor its notifications arrive on.
pub(crate) fn seccomp() -> Result<(ScmpFilterContext, RawFd), String> {
    let fail = |e: libseccomp::error::SeccompError| format!("seccomp: {e}");
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(fail)?;
    let connect = ScmpSyscall::from_name("connect").map_err(fail)?;
    ctx.add_rule(ScmpAction::Notify, connect).map_err(fail)?;
    let sendto = ScmpSyscall::from_name("sendto").map_err(fail)?;
    // `sendto(fd, buf, len, flags, dest_addr, addrlen)`: only with a destination.
    ctx.add_rule_conditional(
        ScmpAction::Notify,
        sendto,
        &[ScmpArgCompare::new(4, ScmpCompareOp::NotEqual, 0)],
    )
    .map_err(fail)?;
    for name in REFUSED {
        // A call this architecture does not have needs no rule.
        if let Ok(call) = ScmpSyscall::from_name(name) {
            ctx.add_rule(ScmpAction::Notify, call).map_err(fail)?;
        }
    }
    ctx.load().map_err(fail)?;
    let fd = ctx.get_notify_fd().map_err(fail)?;
    Ok((ctx, fd))
}
