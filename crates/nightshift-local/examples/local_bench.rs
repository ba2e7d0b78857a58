//! Prompt-processing and generation speed of the local model, for `bench/local.sh`.
//!
//! `local_bench MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS] [REPEAT] [CELLS] [MODE]`, where CELLS
//! is a comma-separated list of `1`, `2`, … (fixed threads) and `auto`, and MODE is `text`
//! (free text, the default) or `tools` (one tool call under the JSON-schema grammar; it
//! ends when the call's object closes). Prints one JSON object per cell on stdout: the
//! median over REPEAT runs of prompt and generation tokens/s, the threads used (for `auto`,
//! what the policy chose each run) and, for tools, how often the grammar rejected the
//! greedy token.

use std::io::Write;
use std::time::Duration;

use nightshift_local::{LocalModel, LocalOptions, Threads, Timings};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: local_bench MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS] [REPEAT] [CELLS]")?;
    let prompt_tokens: usize = args.get(2).map_or(Ok(256), |s| s.parse())?;
    let gen_tokens: u32 = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let repeat: usize = args.get(4).map_or(Ok(3), |s| s.parse())?;
    let cells = args.get(5).map_or("1,2,auto", String::as_str).to_string();
    let tools = args.get(6).is_some_and(|m| m == "tools");

    let options = LocalOptions {
        context_tokens: (prompt_tokens as u32 + gen_tokens) * 2 + 64,
        max_output_tokens: gen_tokens,
        threads: Threads::Auto,
        ..LocalOptions::new(path)
    };
    let model = LocalModel::load(&options)?;
    // Find the user text that makes a prompt of about the tokens asked for.
    let mut words = prompt_tokens;
    let body = |n: usize| {
        let mut b = json!({"model": "bench", "max_tokens": gen_tokens, "messages": [
            {"role": "user", "content": "The quick brown fox jumps over the lazy dog. ".repeat(n / 10 + 1)}
        ]});
        if tools {
            b["tools"] = json!([{"type": "function", "function": {"name": "write_file",
                "description": "Write a file.", "parameters": {"type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"]}}}]);
        }
        b
    };
    for _ in 0..8 {
        let got = model.tokenize(&model.prompt(&body(words))?).len();
        if got.abs_diff(prompt_tokens) <= 10 {
            break;
        }
        words = (words * prompt_tokens / got.max(1)).max(1);
    }
    let request = body(words);
    // Warm the page cache and the CPU watch's first window.
    model.measure(&request, Some((1, 1))).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;

    let mut out = std::io::stdout().lock();
    for cell in cells.split(',') {
        let threads = match cell {
            "auto" => None,
            n => {
                let n: u32 = n.parse()?;
                Some((n, n))
            }
        };
        let mut runs: Vec<Timings> = Vec::new();
        let mut load = Vec::new();
        for _ in 0..repeat {
            load.push(model.cpu_view().0);
            runs.push(model.measure(&request, threads).await?);
        }
        let pp = median(
            runs.iter()
                .map(|t| t.prompt_tokens as f64 * 1000.0 / t.prompt_ms)
                .collect(),
        );
        let tg = median(
            runs.iter()
                .map(|t| t.generated_tokens as f64 * 1000.0 / t.generation_ms)
                .collect(),
        );
        let used: Vec<u32> = runs.iter().map(|t| t.threads).collect();
        let fallbacks: Vec<u64> = runs.iter().map(|t| t.grammar_fallbacks).collect();
        writeln!(
            out,
            "{}",
            json!({"cell": cell, "mode": if tools { "tools" } else { "text" },
                "prompt_tokens": runs[0].prompt_tokens, "generated_tokens": runs[0].generated_tokens,
                "grammar_fallbacks": fallbacks,
                "pp_tok_s": (pp * 10.0).round() / 10.0, "tg_tok_s": (tg * 10.0).round() / 10.0,
                "threads_used": used, "others_load_permille": load})
        )?;
        out.flush()?;
    }
    Ok(())
}
