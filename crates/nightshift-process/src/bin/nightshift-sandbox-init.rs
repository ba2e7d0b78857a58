//! The sandbox's init on its own, for this crate's tests (the `nightshift` binary is the
//! init in production: `nightshift __sandbox-init …`).

/// Arguments: `__sandbox-init` (skipped, as the binary does) and the init's own.
fn main() -> std::process::ExitCode {
    let code = nightshift_process::sandbox::init::main(std::env::args_os().skip(2));
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(125))
}
