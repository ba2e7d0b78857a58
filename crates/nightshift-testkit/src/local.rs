//! Where the tests find the small local model.

use std::path::PathBuf;

/// The small local model: `NIGHTSHIFT_LOCAL_MODEL`, else the file `scripts/fetch-model.sh`
/// writes (`.cache/models/` of the workspace). A missing model fails the test that asks, with
/// the command that fetches it; it is never skipped.
pub fn local_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NIGHTSHIFT_LOCAL_MODEL") {
        return PathBuf::from(p);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/models/gemma3-270m-q4_k_m.gguf");
    assert!(
        path.is_file(),
        "the local model is missing at {}: run scripts/fetch-model.sh (or set NIGHTSHIFT_LOCAL_MODEL)",
        path.display()
    );
    path
}
