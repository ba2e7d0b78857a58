//! `[store]`: where the ledger and the factory's state are kept.

use std::path::Path;

use super::StoreConfig;
use super::raw::RawStore;
use crate::error::{Source, SpecError};
use crate::locate::Seg;

const KEY: &str = "store.url";

/// The in-memory store, in the two spellings sqlx accepts.
const MEMORY: [&str; 2] = ["sqlite::memory:", "sqlite://:memory:"];

/// The store's URL, checked the way `nightshift-store` will open it: SQLite only (for now),
/// and a database file whose folder exists, so that a typo in the path is reported here
/// with its line rather than when the store fails to open.
pub(super) fn resolve(
    src: &Source<'_>,
    folder: &Path,
    raw: Option<&RawStore>,
) -> Result<StoreConfig, SpecError> {
    let Some(raw) = raw else {
        return Ok(StoreConfig {
            url: format!(
                "sqlite://{}",
                folder.join(StoreConfig::DEFAULT_FILE).display()
            ),
        });
    };
    let url = src.required(
        raw.url.as_ref(),
        &[Seg::Key("store")],
        KEY,
        "[store] needs `url`: `sqlite://PATH` (relative to this file) or `sqlite::memory:`; or remove [store] to keep nightshift.db beside this file",
    )?;
    let text = url.get_ref();
    if MEMORY.contains(&text.as_str()) {
        return Ok(StoreConfig { url: text.clone() });
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Err(src.invalid_at(
            url,
            KEY,
            "PostgreSQL stores are not supported yet; use `sqlite://PATH`",
        ));
    }
    let Some(rest) = text.strip_prefix("sqlite://") else {
        return Err(src.invalid_at(
            url,
            KEY,
            format!(
                "`{text}` is not a supported store; write `sqlite://PATH` (relative to this file) or `sqlite::memory:`"
            ),
        ));
    };
    // sqlx reads options after a `?`; they are not part of the file's path.
    let file = rest.split('?').next().unwrap_or(rest);
    if file.is_empty() {
        return Err(src.invalid_at(
            url,
            KEY,
            "the URL names no database file; write `sqlite://PATH`, e.g. `sqlite://nightshift.db`",
        ));
    }
    let resolved = if Path::new(file).is_absolute() {
        rest.to_string()
    } else {
        folder.join(rest).to_string_lossy().into_owned()
    };
    let db = folder.join(file);
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(src.invalid_at(
            url,
            KEY,
            format!(
                "the folder {} that would hold the database does not exist; create it, or point `url` into a folder that does",
                dir.display()
            ),
        ));
    }
    Ok(StoreConfig {
        url: format!("sqlite://{resolved}"),
    })
}
