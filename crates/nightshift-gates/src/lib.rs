//! nightshift-gates: the checks the factory runs on every iteration's committed change,
//! outside the agent's reach.
//!
//! This crate never calls git. The factory hands it the change as data ([`Change`]) and a
//! directory to run commands in; it answers with one [`GateResult`] per gate, which the factory
//! stores as evidence and uses to accept the iteration or record it as a defect.
//!
//! | module | holds |
//! |---|---|
//! | [`result`] | [`GateResult`], the evidence of one gate, and the excerpt helpers that keep it small |
//! | [`command`] | [`CommandGate`] and [`run_command`]: `sh -c` through the process supervisor (`nightshift-process`), a timeout that kills everything it started, output capped while it is read |
//! | [`change`] | [`Change`], [`FileChange`], [`ChangeStatus`]: an iteration's change as the factory hands it over |
//! | [`policy`] | [`Policy`] and [`check`]: the gates `non-empty-change`, `tests-intact`, `protected-paths`, `diff-size`, `hooks`, `symlinks` |
//! | [`secrets`] | the `secrets` gate: credential shapes (gitleaks' format, `data/secrets.toml`) in a change's added lines, found and masked, and [`secrets::Rules::redact`] for any text shown |
//! | [`api`] | the `api` gate: public-API walls (frozen paths, declarations, a crate's `pub` items, a Python module's exports) a change must not remove or alter |
//! | [`health`] | code-health figures of a change's base and commit (lizard for complexity and duplication, ruff and clippy for lint warnings, tests counted, a coverage command), their deltas and the `health` gate's thresholds |
//! | [`symlinks`] | the `symlinks` rule: a link added or modified must point inside the repository |
//! | [`tests_guard`] | the `tests-intact` rule: which files it compares, what fails and what goes to review; [`modified_test_files`] for running the base tests |
//! | [`test_scan`] | what a file holds per language: code without comments, tests, assertions, skip markers |
//! | [`assertions`] | assertions as whole statements, normalised and compared as a multiset |
//!
//! Every gate passes or fails with a one-sentence `detail` a person can act on and an `excerpt`
//! (at most [`EXCERPT_MAX_BYTES`]) that shows the evidence: the tail of a command's output, or
//! the offending lines of a change. A gate that passed only because the policy allows what it
//! found (`tests-intact` under `allow_test_changes`) also sets [`GateResult::review`], one
//! sentence saying why a person should look before the work lands.

pub mod api;
pub mod assertions;
pub mod change;
pub mod command;
pub mod health;
pub mod policy;
pub mod result;
pub mod secrets;
pub mod symlinks;
pub mod test_scan;
pub mod tests_guard;

pub use change::{Change, ChangeStatus, FileChange};
pub use command::{CommandGate, OUTPUT_CAP_BYTES, run_command};
pub use policy::{GATE_NAMES, Policy, PolicyError, check};
pub use result::{EXCERPT_MAX_BYTES, GateResult, all_passed};
pub use tests_guard::modified_test_files;
