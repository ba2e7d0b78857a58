//! Finding the model the tests run on.

use std::path::PathBuf;

use nightshift_local::{LocalModel, LocalOptions, Threads};

/// The small model: `NIGHTSHIFT_LOCAL_MODEL`, else `.cache/models/gemma3-270m-q4_k_m.gguf`
/// under the workspace root. A missing model fails the test: it is fetched, never skipped.
pub fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NIGHTSHIFT_LOCAL_MODEL") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(".cache/models/gemma3-270m-q4_k_m.gguf");
    assert!(
        path.is_file(),
        "the local model is missing at {}: run scripts/fetch-model.sh (or set NIGHTSHIFT_LOCAL_MODEL)",
        path.display()
    );
    path
}

pub fn load(context_tokens: u32, max_output_tokens: u32) -> LocalModel {
    let options = LocalOptions {
        context_tokens,
        max_output_tokens,
        threads: Threads::Auto,
        ..LocalOptions::new(model_path())
    };
    LocalModel::load(&options).expect("the model loads")
}
