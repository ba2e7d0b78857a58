//! How a local model is loaded and run: its file, its limits, its threads.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;

/// Settings for [`crate::LocalModel::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// Most tokens of prompt plus output one request may use; a longer prompt is refused.
    pub context_tokens: u32,
    /// Most tokens one answer may generate, whatever the request asks for.
    pub max_output_tokens: u32,
    pub threads: Threads,
}

impl LocalOptions {
    /// Defaults for a model file: a 4,096-token context and 512 output tokens, threads
    /// chosen per generation.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            context_tokens: 4096,
            max_output_tokens: 512,
            threads: Threads::Auto,
        }
    }
}

/// How many CPU threads inference uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// Chosen before each generation from the CPU time other processes used in the last
    /// moments: llama.cpp's threads spin-wait on each other, so a thread that shares its
    /// core with a busy process slows all of them down (on two cores, two threads run 5–10×
    /// slower than one when the other core is busy). Auto uses only the cores left idle.
    #[default]
    Auto,
    /// Always this many.
    Fixed(NonZeroU32),
}

impl FromStr for Threads {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        match s.parse::<u32>().ok().and_then(NonZeroU32::new) {
            Some(n) => Ok(Self::Fixed(n)),
            None => Err(format!(
                "`{s}` is not a thread count: write \"auto\" or a whole number of at least 1"
            )),
        }
    }
}

impl std::fmt::Display for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}
