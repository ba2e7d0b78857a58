//! Landing on a forge, the parts that are not a job's loop: which forge and repository
//! each job's pull request lives on (with the token, read here and held by the factory
//! alone), the pull request's title and body, how its checks and reviews read, and the
//! rollout limits. `job::pull` runs them in order.

mod body;
mod checks;
mod forges;

pub(crate) use body::{Evidence, describe};
pub(crate) use checks::{Watch, ci_feedback, next_poll, review_feedback, settle};
pub(crate) use forges::{Lander, Landers, resolve};
