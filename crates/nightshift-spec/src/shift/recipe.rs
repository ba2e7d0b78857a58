//! `[recipe]`: the prompt, the worker, the model and the worker's limits.

use std::path::Path;

use toml::Spanned;

use super::raw::RawRecipe;
use super::{Origin, WorkerKind};
use crate::defaults;
use crate::error::{Source, SpecError};
use crate::locate::Seg;

const TABLE: &[Seg<'static>] = &[Seg::Key("recipe")];

/// The recipe, resolved: what every job starts from before its override.
pub(super) struct Recipe {
    pub prompt: String,
    pub worker: WorkerKind,
    pub command: Option<String>,
    pub model: String,
    pub model_origin: Origin,
    pub max_turns: u32,
    pub silence_secs: u64,
}

pub(super) fn resolve(
    src: &Source<'_>,
    folder: &Path,
    raw: Option<&RawRecipe>,
) -> Result<Recipe, SpecError> {
    let r = src.required(
        raw,
        &[],
        "recipe",
        "the spec has no [recipe]: add one with `prompt`, `worker` and `model`",
    )?;
    let worker_at = src.required(
        r.worker.as_ref(),
        TABLE,
        "recipe.worker",
        "the recipe needs a `worker`: builtin, command, codex, claude-code or opencode",
    )?;
    let model = src.required(
        r.model.as_ref(),
        TABLE,
        "recipe.model",
        "the recipe needs a `model`: a [[model]] name of nightshift.toml",
    )?;
    let prompt = prompt(src, folder, r)?;
    let worker = *worker_at.get_ref();
    if worker == WorkerKind::Command && r.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(src.invalid_at(
            worker_at,
            "recipe.command",
            "worker `command` needs `command = \"…\"`, the command line to run in the worktree",
        ));
    }
    let max_turns = src
        .at_least(r.max_turns.as_ref(), 1, "recipe.max_turns")?
        .unwrap_or(defaults::MAX_TURNS);
    let silence_secs = src
        .at_least(r.silence_secs.as_ref(), 1, "recipe.silence_secs")?
        .unwrap_or(defaults::SILENCE_SECS);
    Ok(Recipe {
        prompt,
        worker,
        command: r.command.clone(),
        model: model.get_ref().clone(),
        model_origin: Origin {
            key: "recipe.model".into(),
            at: src.at(model.span().start),
        },
        max_turns,
        silence_secs,
    })
}

/// The prompt, written out or read from `prompt_file`; never empty.
fn prompt(src: &Source<'_>, folder: &Path, r: &RawRecipe) -> Result<String, SpecError> {
    if let (Some(flag), None) = (&r.prompt_file_outside, &r.prompt_file) {
        return Err(src.invalid_at(
            flag,
            "recipe.prompt_file_outside",
            "`prompt_file_outside` only applies to a `prompt_file`; remove it",
        ));
    }
    match (&r.prompt, &r.prompt_file) {
        (Some(p), None) => not_empty(src, p, "recipe.prompt", p.get_ref().clone()),
        (None, Some(f)) => {
            let outside = r
                .prompt_file_outside
                .as_ref()
                .map_or(defaults::PROMPT_FILE_OUTSIDE, |v| *v.get_ref());
            let text = prompt_file(src, folder, f, outside)?;
            not_empty(src, f, "recipe.prompt_file", text)
        }
        (Some(_), Some(f)) => Err(src.invalid_at(
            f,
            "recipe.prompt_file",
            "give either `prompt` or `prompt_file`, not both",
        )),
        (None, None) => Err(src.missing(
            TABLE,
            "recipe.prompt",
            "the recipe needs a `prompt` (or a `prompt_file`)",
        )),
    }
}

/// An override's prompt, checked as the recipe's is.
pub(super) fn override_prompt(src: &Source<'_>, p: &Spanned<String>) -> Result<String, SpecError> {
    not_empty(src, p, "fleet.override.prompt", p.get_ref().clone())
}

fn not_empty<T>(
    src: &Source<'_>,
    at: &Spanned<T>,
    key: &str,
    prompt: String,
) -> Result<String, SpecError> {
    if prompt.trim().is_empty() {
        return Err(src.invalid_at(at, key, "the prompt is empty"));
    }
    Ok(prompt)
}

/// Read the prompt file. What it holds goes to a model provider, so it must be inside the
/// spec's folder once `..` and symbolic links are resolved, unless the spec says
/// `prompt_file_outside = true`: a spec from elsewhere must not be able to send
/// `/etc/shadow` or `~/.ssh/id_ed25519` upstream by naming it.
fn prompt_file(
    src: &Source<'_>,
    folder: &Path,
    f: &Spanned<String>,
    outside: bool,
) -> Result<String, SpecError> {
    file_inside(src, folder, f, outside, "recipe.prompt_file")
}

/// Read a file the spec names at `key` (relative to the spec's folder), refused outside
/// that folder unless `outside`: its text may go to a model provider.
pub(super) fn file_inside(
    src: &Source<'_>,
    folder: &Path,
    f: &Spanned<String>,
    outside: bool,
    key: &str,
) -> Result<String, SpecError> {
    let prompt = key == "recipe.prompt_file";
    let what = if prompt { "prompt file" } else { "file" };
    let file = folder.join(f.get_ref());
    let cannot = |e: std::io::Error| {
        src.invalid_at(
            f,
            key,
            format!("cannot read {what} {}: {e}", file.display()),
        )
    };
    let real = std::fs::canonicalize(&file).map_err(cannot)?;
    if !outside {
        let home = std::fs::canonicalize(folder).map_err(cannot)?;
        if !real.starts_with(&home) {
            let or = if prompt {
                ", or set `prompt_file_outside = true` in [recipe] to send it to the model anyway"
            } else {
                ""
            };
            return Err(src.invalid_at(
                f,
                key,
                format!(
                    "{what} `{}` is {}, outside the spec's folder {}: move it into that folder{or}",
                    f.get_ref(),
                    real.display(),
                    home.display(),
                ),
            ));
        }
    }
    std::fs::read_to_string(&real).map_err(cannot)
}
