//! The built-in agent's integration tests: real iterations against the scripted provider over
//! real HTTP, in temporary worktrees.

mod suite;
