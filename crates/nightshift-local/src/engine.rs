//! llama.cpp itself: the process-wide backend, the model's worker thread, and the loop
//! that turns a prompt into tokens, greedily, under a grammar when the answer is a tool
//! call.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use crate::output::{CallSplitter, Event, Finish, FinishReason};

/// Tokens decoded per llama.cpp batch while reading the prompt.
const BATCH: usize = 512;

/// llama.cpp's backend may be initialised once per process; every model shares it.
pub(crate) fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// One generation to run.
pub(crate) struct Job {
    pub tokens: Vec<LlamaToken>,
    pub max_out: u32,
    /// A GBNF grammar the answer must match (a tool call), or none for free text.
    pub grammar: Option<String>,
    pub stop: Vec<String>,
    /// Threads for single-token steps and for prompt batches.
    pub threads: Option<(u32, u32)>,
    /// Generate `max_out` tokens whatever the model says (end of turn included): for the
    /// benchmark.
    pub ignore_eog: bool,
    pub events: tokio::sync::mpsc::Sender<Event>,
}

/// How fast one generation went, for the log and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub prompt_tokens: u64,
    pub prompt_ms: f64,
    pub generated_tokens: u64,
    pub generation_ms: f64,
    pub threads: u32,
    pub batch_threads: u32,
    /// Tokens for which the greedy choice broke the grammar and the whole vocabulary was
    /// filtered.
    pub grammar_fallbacks: u64,
}

/// Runs generations one at a time, in arrival order, until every sender is gone.
pub(crate) fn worker(
    model: Arc<LlamaModel>,
    jobs: std::sync::mpsc::Receiver<Job>,
    pick_threads: impl Fn() -> (u32, u32),
) {
    for job in jobs {
        if job.events.is_closed() {
            continue; // its caller went away while it waited
        }
        let threads = job.threads.unwrap_or_else(&pick_threads);
        let events = job.events.clone();
        let mut emit = |ev: Event| events.blocking_send(ev).is_ok();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            generate(&model, &job, threads, &mut emit)
        }));
        let end = match run {
            Ok(Ok(finish)) => {
                let t = finish.timings;
                tracing::debug!(
                    prompt_tokens = t.prompt_tokens,
                    prompt_ms = t.prompt_ms,
                    generated = t.generated_tokens,
                    generation_ms = t.generation_ms,
                    threads = t.threads,
                    batch_threads = t.batch_threads,
                    grammar_fallbacks = t.grammar_fallbacks,
                    "Local generation finished."
                );
                Event::End(finish)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Local generation failed.");
                Event::Failed(e)
            }
            Err(_) => {
                tracing::error!("Local generation panicked.");
                Event::Failed("the local model failed unexpectedly".into())
            }
        };
        let _ = job.events.blocking_send(end);
    }
}

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut top = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > top {
            top = l;
            best = i;
        }
    }
    best
}

/// The greedy token, under `grammar` when there is one. The greedy token is checked
/// against the grammar alone first; only when the grammar rejects it is the grammar applied
/// to the whole vocabulary (262,144 tokens for Gemma 3: three times slower on every token
/// if done each time). The token is accepted into the grammar exactly once, here.
fn pick(
    logits: &[f32],
    grammar: Option<&mut LlamaSampler>,
    fallbacks: &mut u64,
) -> Result<LlamaToken, String> {
    let best = argmax(logits);
    let token = LlamaToken::new(best as i32);
    let Some(g) = grammar else {
        return Ok(token);
    };
    let mut one =
        LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, logits[best], 0.0)], false);
    g.apply(&mut one);
    let chosen = if one
        .data
        .first()
        .is_some_and(|d| d.logit() > f32::NEG_INFINITY)
    {
        token
    } else {
        *fallbacks += 1;
        let mut all = LlamaTokenDataArray::new(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| LlamaTokenData::new(LlamaToken::new(i as i32), l, 0.0))
                .collect(),
            false,
        );
        g.apply(&mut all);
        all.data
            .iter()
            .filter(|d| d.logit() > f32::NEG_INFINITY)
            .max_by(|a, b| a.logit().total_cmp(&b.logit()))
            .map(LlamaTokenData::id)
            .ok_or("the tool-call grammar allows no next token")?
    };
    g.try_accept(chosen)
        .map_err(|e| format!("the tool-call grammar refused its own token: {e}"))?;
    Ok(chosen)
}

/// Bytes of the answer to text: whole UTF-8 characters only, the rest kept for later.
#[derive(Default)]
struct Utf8 {
    pending: Vec<u8>,
}

impl Utf8 {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Not UTF-8 and never will be: pass it on, replaced.
            Err(_) => self.pending.len(),
        };
        let out = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        out
    }
}

/// Free text with stop strings: holds back what could be the start of one.
struct Text<'a> {
    stop: &'a [String],
    held: String,
}

impl Text<'_> {
    /// Returns the text safe to send, and whether a stop string was reached.
    fn push(&mut self, piece: &str) -> (String, bool) {
        self.held.push_str(piece);
        if let Some(at) = self
            .stop
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        let keep = self
            .stop
            .iter()
            .flat_map(|s| {
                (1..s.len())
                    .filter(|&n| s.is_char_boundary(n))
                    .map(move |n| &s[..n])
            })
            .filter(|p| self.held.ends_with(p))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        (out, false)
    }
}

/// The answer as it is emitted: a tool call cut into its events, or free text held back
/// where a stop string may begin.
struct Answer<'a> {
    call: Option<CallSplitter>,
    utf8: Utf8,
    text: Text<'a>,
}

impl<'a> Answer<'a> {
    fn new(tool_call: bool, stop: &'a [String]) -> Self {
        Self {
            call: tool_call.then(CallSplitter::default),
            utf8: Utf8::default(),
            text: Text {
                stop,
                held: String::new(),
            },
        }
    }

    /// Emit what a token's bytes add to the answer. Returns why generation must end, if
    /// the answer is complete or nobody reads it any more.
    fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Event) -> bool) -> Option<FinishReason> {
        let piece = self.utf8.push(bytes);
        let mut gone = false;
        if let Some(c) = &mut self.call {
            for ev in c.push(&piece) {
                gone |= !emit(ev);
            }
            if c.done() {
                return Some(FinishReason::ToolCalls);
            }
        } else {
            let (out, stopped) = self.text.push(&piece);
            if !out.is_empty() {
                gone = !emit(Event::Text(out));
            }
            if stopped {
                return Some(FinishReason::Stop);
            }
        }
        // Nobody reads the answer any more: stop spending the CPU on it.
        gone.then_some(FinishReason::Stop)
    }

    /// Emit the text held back for a stop string that never came.
    fn flush(&mut self, emit: &mut dyn FnMut(Event) -> bool) {
        if self.call.is_none() && !self.text.held.is_empty() {
            emit(Event::Text(std::mem::take(&mut self.text.held)));
        }
    }
}

/// A llama.cpp context for one generation, and where its next token goes.
struct Decoder<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    /// The position of the next token in the sequence.
    pos: i32,
    /// The index in the batch of the logits that choose the next token.
    last: i32,
}

impl<'m> Decoder<'m> {
    /// A context with room for the prompt and `max_out` tokens after it.
    fn new(
        model: &'m LlamaModel,
        prompt_len: usize,
        max_out: u32,
        (threads, batch_threads): (u32, u32),
    ) -> Result<Self, String> {
        let backend = backend()?;
        let need = (prompt_len as u32 + max_out).next_multiple_of(64);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(need))
            .with_n_batch(BATCH as u32)
            .with_n_ubatch(BATCH as u32)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(batch_threads as i32);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| format!("cannot create a llama.cpp context of {need} tokens: {e}"))?;
        Ok(Self {
            ctx,
            batch: LlamaBatch::new(BATCH, 1),
            pos: 0,
            last: 0,
        })
    }

    /// Decode the prompt `BATCH` tokens at a time; only its last token's logits are kept.
    fn read_prompt(&mut self, prompt: &[LlamaToken]) -> Result<(), String> {
        for chunk in prompt.chunks(BATCH) {
            self.batch.clear();
            for &t in chunk {
                let last = self.pos as usize + 1 == prompt.len();
                self.add(t, last)?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| format!("decoding the prompt failed: {e}"))?;
        }
        self.last = self.batch.n_tokens() - 1;
        Ok(())
    }

    /// Put `token` in the batch at the next position, asking for its logits if `logits`.
    fn add(&mut self, token: LlamaToken, logits: bool) -> Result<(), String> {
        self.batch
            .add(token, self.pos, &[0], logits)
            .map_err(|e| e.to_string())?;
        self.pos += 1;
        Ok(())
    }

    /// The logits that choose the next token.
    fn logits(&self) -> &[f32] {
        self.ctx.get_logits_ith(self.last)
    }

    /// Decode the token just generated, the `generated`th.
    fn advance(&mut self, token: LlamaToken, generated: u32) -> Result<(), String> {
        self.batch.clear();
        self.add(token, true)?;
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| format!("decoding failed after {generated} tokens: {e}"))?;
        self.last = 0;
        Ok(())
    }
}

pub(crate) fn generate(
    model: &LlamaModel,
    job: &Job,
    (threads, batch_threads): (u32, u32),
    emit: &mut dyn FnMut(Event) -> bool,
) -> Result<Finish, String> {
    let prompt = &job.tokens;
    let mut decoder = Decoder::new(model, prompt.len(), job.max_out, (threads, batch_threads))?;
    let mut timings = Timings {
        prompt_tokens: prompt.len() as u64,
        threads,
        batch_threads,
        ..Timings::default()
    };

    let started = Instant::now();
    decoder.read_prompt(prompt)?;
    timings.prompt_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let (reason, generated) = decode_answer(
        model,
        job,
        &mut decoder,
        &mut timings.grammar_fallbacks,
        emit,
    )?;
    timings.generated_tokens = u64::from(generated);
    timings.generation_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Finish {
        reason,
        prompt_tokens: prompt.len() as u64,
        completion_tokens: u64::from(generated),
        timings,
    })
}

/// Generate the answer to the prompt `decoder` has read, one greedy token at a time, and
/// emit it as it comes. Returns why it ended and how many tokens it took.
fn decode_answer(
    model: &LlamaModel,
    job: &Job,
    decoder: &mut Decoder<'_>,
    fallbacks: &mut u64,
    emit: &mut dyn FnMut(Event) -> bool,
) -> Result<(FinishReason, u32), String> {
    let vocab = model.vocab();
    let mut grammar = match &job.grammar {
        Some(g) => Some(
            LlamaSampler::grammar(model, g, "root")
                .map_err(|e| format!("the tool-call grammar does not load: {e}"))?,
        ),
        None => None,
    };
    let mut answer = Answer::new(grammar.is_some(), &job.stop);
    let mut generated = 0u32;
    let reason = loop {
        if generated == job.max_out {
            break FinishReason::Length;
        }
        let token = pick(decoder.logits(), grammar.as_mut(), fallbacks)?;
        if !job.ignore_eog && (vocab.is_eog(token) || vocab.is_control(token)) {
            break FinishReason::Stop;
        }
        generated += 1;
        if let Some(reason) = answer.push(&vocab.token_to_piece(token, false, None), emit) {
            break reason;
        }
        if generated == job.max_out {
            break FinishReason::Length;
        }
        decoder.advance(token, generated)?;
    };
    answer.flush(emit);
    Ok((reason, generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_are_held_back_until_they_are_ruled_out() {
        let stop = vec!["END".to_string()];
        let mut t = Text {
            stop: &stop,
            held: String::new(),
        };
        assert_eq!(t.push("abc E"), ("abc ".to_string(), false));
        assert_eq!(t.push("x"), ("Ex".to_string(), false));
        assert_eq!(t.push("E"), (String::new(), false));
        assert_eq!(t.push("ND tail"), (String::new(), true));
    }

    #[test]
    fn split_characters_wait_for_their_last_byte() {
        let mut u = Utf8::default();
        let e = "é".as_bytes();
        assert_eq!(u.push(&e[..1]), "");
        assert_eq!(u.push(&e[1..]), "é");
    }
}
