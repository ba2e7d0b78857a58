//! Which forge each job lands on, resolved before any job starts: a fleet entry's
//! `forge`/`forge_repo`, or the forge whose `hosts` hold the repository's URL. The token is
//! read from the variable `token_env` names, here, once; it lives in the factory's
//! memory and in no child's environment (the process crate clears every child's
//! environment and passes only what it names).

use std::collections::HashMap;
use std::sync::Arc;

use nightshift_forge::{Forge, ForgeKind, RepoPath, Token};
use nightshift_spec::{Config, ForgeApi, ForgeConfig, JobSpec, ShiftSpec};

use crate::error::FactoryError;

/// Where one job's pull request lives.
#[derive(Clone)]
pub(crate) struct Lander {
    pub forge: Arc<Forge>,
    pub repo: RepoPath,
}

/// Every forge-landing job's [`Lander`], by job name.
pub(crate) type Landers = HashMap<String, Lander>;

/// The landers of a shift whose `landing.mode` uses a forge (none otherwise). Every
/// mistake is bad input, named with the spec, the job and what to write.
pub(crate) fn resolve(config: &Config, spec: &ShiftSpec) -> Result<Landers, FactoryError> {
    let mut out = Landers::new();
    if !spec.landing.mode.uses_forge() {
        return Ok(out);
    }
    let mut clients: HashMap<String, Arc<Forge>> = HashMap::new();
    for job in &spec.jobs {
        let bad = |what: String| {
            FactoryError::Invalid(format!(
                "{}: job `{}`: {what}",
                spec.file.display(),
                job.name
            ))
        };
        let (forge, repo) = choose(config, job).map_err(bad)?;
        let client = match clients.get(&forge.name) {
            Some(c) => c.clone(),
            None => {
                let token = read_token(forge).map_err(bad)?;
                let kind = match forge.kind {
                    ForgeApi::Github => ForgeKind::Github,
                    ForgeApi::Gitlab => ForgeKind::Gitlab,
                    ForgeApi::Gitea => ForgeKind::Gitea,
                };
                let c = Arc::new(
                    Forge::new(kind, &forge.api_base, token).map_err(|e| bad(e.to_string()))?,
                );
                clients.insert(forge.name.clone(), c.clone());
                c
            }
        };
        out.insert(
            job.name.clone(),
            Lander {
                forge: client,
                repo,
            },
        );
    }
    Ok(out)
}

fn choose<'a>(config: &'a Config, job: &JobSpec) -> Result<(&'a ForgeConfig, RepoPath), String> {
    let detected = nightshift_forge::detect(&job.source);
    let forge = match &job.forge {
        Some(name) => config.forge(name).ok_or_else(|| {
            format!(
                "`fleet.override.forge = \"{name}\"` names no [[forge]] of the configuration (forges: {}); add one to nightshift.toml or fix the name",
                names(config)
            )
        })?,
        None => {
            let by_host = detected.as_ref().and_then(|(_, host, _)| {
                config
                    .forges
                    .iter()
                    .find(|f| f.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
            });
            match (by_host, config.forges.as_slice()) {
                (Some(f), _) => f,
                (None, [only]) if job.forge_repo.is_some() => only,
                _ => {
                    return Err(format!(
                        "no [[forge]] serves its repository {} (forges: {}); add a [[forge]] whose `hosts` holds its host, or name one with `forge` in a [[fleet.override]]",
                        job.source,
                        names(config)
                    ));
                }
            }
        }
    };
    let repo = match (&job.forge_repo, detected) {
        (Some(path), _) => RepoPath::new(path.clone()).map_err(|e| e.to_string())?,
        (None, Some((_, _, repo))) => repo,
        (None, None) => {
            return Err(format!(
                "cannot tell the repository's path on forge `{}` from {}; set `forge_repo = \"owner/name\"` in a [[fleet.override]] for it",
                forge.name, job.source
            ));
        }
    };
    Ok((forge, repo))
}

fn names(config: &Config) -> String {
    if config.forges.is_empty() {
        return "none".into();
    }
    config
        .forges
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_token(forge: &ForgeConfig) -> Result<Token, String> {
    match std::env::var(&forge.token_env) {
        Ok(t) if !t.trim().is_empty() => Ok(Token::new(t.trim().to_string())),
        _ => Err(format!(
            "forge `{}` reads its token from the environment variable {}, which is not set; export it (a token that may write pull requests) and run again",
            forge.name, forge.token_env
        )),
    }
}
