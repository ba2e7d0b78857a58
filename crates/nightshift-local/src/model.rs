//! The loaded model and the two ways to ask it: a whole answer or a stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::engine::{self, Job, Timings};
use crate::error::LocalError;
use crate::options::{LocalOptions, Threads};
use crate::output::{Chunks, Event, Ids, Whole};
use crate::request::{self, ChatRequest, Turn};
use crate::schema;
use crate::threads::CpuWatch;

/// A GGUF model loaded in this process, answering OpenAI Chat Completions requests one at
/// a time on its own thread. Cloning shares the model.
#[derive(Clone)]
pub struct LocalModel {
    inner: Arc<Inner>,
}

struct Inner {
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    options: LocalOptions,
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    watch: Arc<CpuWatch>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// A request read, templated and tokenized, ready for the worker.
struct Prepared {
    request: ChatRequest,
    tokens: Vec<LlamaToken>,
    max_out: u32,
    grammar: Option<String>,
}

/// The answer to one request.
#[derive(Debug)]
pub enum Reply {
    /// `stream` was false: the whole `chat.completion` body.
    Whole(Value),
    /// `stream` was true: `chat.completion.chunk` events as they are generated.
    Stream(SseStream),
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

fn ids(model: &str) -> Ids {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ids {
        id: format!("chatcmpl-local-{created}-{n}"),
        call_id: format!("call_local_{created}_{n}"),
        created,
        model: model.to_string(),
    }
}

impl LocalModel {
    /// Load the GGUF file and start its worker thread. Takes a second or so for a small
    /// model (the file is memory-mapped).
    pub fn load(options: &LocalOptions) -> Result<Self, LocalError> {
        let path = options.model_path.display().to_string();
        let load_err = |message: String| LocalError::Load {
            path: path.clone(),
            message,
        };
        if !options.model_path.is_file() {
            return Err(load_err(
                "no such file; run scripts/fetch-model.sh to fetch the default model, or set model_path to a GGUF file".into(),
            ));
        }
        if options.context_tokens < 2 || options.max_output_tokens == 0 {
            return Err(load_err(
                "context_tokens must be at least 2 and max_output_tokens at least 1".into(),
            ));
        }
        let backend = engine::backend().map_err(load_err)?;
        let model =
            LlamaModel::load_from_file(backend, &options.model_path, &LlamaModelParams::default())
                .map_err(|e| load_err(e.to_string()))?;
        // A GGUF without a template (the base Gemma 3 270M) gets llama.cpp's built-in one.
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => LlamaChatTemplate::new("gemma").map_err(|e| load_err(e.to_string()))?,
        };
        let model = Arc::new(model);
        let watch = Arc::new(CpuWatch::start());
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let policy = options.threads;
        let w = watch.clone();
        let m = model.clone();
        std::thread::Builder::new()
            .name("local-model".into())
            .spawn(move || {
                engine::worker(m, rx, move || match policy {
                    Threads::Fixed(n) => (n.get(), n.get()),
                    Threads::Auto => {
                        let n = w.threads();
                        tracing::debug!(
                            threads = n,
                            others_load_permille = w.others_load(),
                            "Auto thread policy."
                        );
                        (n, n)
                    }
                });
            })
            .map_err(|e| load_err(format!("cannot start its worker thread: {e}")))?;
        tracing::info!(path = %path, params = model.n_params(), context_tokens = options.context_tokens, threads = %options.threads, "Loaded the local model.");
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                template,
                options: options.clone(),
                jobs: Mutex::new(tx),
                watch,
            }),
        })
    }

    pub fn options(&self) -> &LocalOptions {
        &self.inner.options
    }

    /// Tokens of `text` as the model reads a prompt: BOS first, special tokens such as
    /// `<start_of_turn>` parsed.
    pub fn tokenize(&self, text: &str) -> Vec<i32> {
        self.tokens(text).into_iter().map(|t| t.0).collect()
    }

    fn tokens(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.inner.model.vocab();
        let mut tokens = vec![vocab.bos()];
        tokens.extend(vocab.tokenize(text.as_bytes(), false, true));
        tokens
    }

    fn template(&self, turns: &[Turn]) -> Result<String, LocalError> {
        let chat = turns
            .iter()
            .map(|t| LlamaChatMessage::new(t.role.to_string(), t.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LocalError::BadRequest(format!("a message cannot be read: {e}")))?;
        self.inner
            .model
            .apply_chat_template(&self.inner.template, &chat, true)
            .map_err(|e| LocalError::Inference(format!("the chat template failed: {e}")))
    }

    /// The prompt text a request becomes (the chat template applied), without BOS.
    pub fn prompt(&self, body: &Value) -> Result<String, LocalError> {
        self.template(&request::read(body)?.turns)
    }

    fn prepare(&self, body: &Value) -> Result<Prepared, LocalError> {
        let request = request::read(body)?;
        let prompt = self.template(&request.turns)?;
        let tokens = self.tokens(&prompt);
        let limit = self.inner.options.context_tokens;
        if tokens.len() >= limit as usize {
            return Err(LocalError::ContextExceeded {
                prompt_tokens: tokens.len(),
                limit,
            });
        }
        if request.max_tokens == Some(0) {
            return Err(LocalError::BadRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let room = u64::from(limit) - tokens.len() as u64;
        let max_out = request
            .max_tokens
            .unwrap_or(u64::MAX)
            .min(u64::from(self.inner.options.max_output_tokens))
            .min(room) as u32;
        let grammar = if request.tools.is_empty() {
            None
        } else {
            let schema = schema::tool_call(&request.tools, u64::from(max_out));
            Some(
                llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
                    LocalError::BadRequest(format!(
                        "the tools' parameter schemas cannot be turned into a grammar: {e}"
                    ))
                })?,
            )
        };
        Ok(Prepared {
            request,
            tokens,
            max_out,
            grammar,
        })
    }

    /// Answer an OpenAI Chat Completions request: whole, or streamed when it says
    /// `"stream": true`. A request the model cannot take (a prompt longer than the
    /// context, a malformed body) is refused before it waits for the model; a whole answer
    /// returns when generation ends. Nothing here blocks the async runtime.
    pub async fn answer(&self, body: &Value) -> Result<Reply, LocalError> {
        let this = self.clone();
        let body = body.clone();
        let prepared = tokio::task::spawn_blocking(move || this.prepare(&body))
            .await
            .map_err(|_| LocalError::Stopped)??;
        self.run(prepared).await
    }

    /// Run a request for its speed: exactly its `max_tokens` are generated (the end of
    /// the turn does not stop it), on the given threads for single-token steps and for
    /// prompt batches, or the policy's when `None`. For the benchmark.
    pub async fn measure(
        &self,
        body: &Value,
        threads: Option<(u32, u32)>,
    ) -> Result<Timings, LocalError> {
        let this = self.clone();
        let body = body.clone();
        let prepared = tokio::task::spawn_blocking(move || this.prepare(&body))
            .await
            .map_err(|_| LocalError::Stopped)??;
        let (tx, mut rx) = mpsc::channel(256);
        self.submit(Job {
            tokens: prepared.tokens,
            max_out: prepared.max_out,
            grammar: prepared.grammar,
            stop: Vec::new(),
            threads,
            ignore_eog: true,
            events: tx,
        })?;
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::End(f) => return Ok(f.timings),
                Event::Failed(e) => return Err(LocalError::Inference(e)),
                _ => {}
            }
        }
        Err(LocalError::Stopped)
    }

    fn submit(&self, job: Job) -> Result<(), LocalError> {
        self.inner
            .jobs
            .lock()
            .map_err(|_| LocalError::Stopped)?
            .send(job)
            .map_err(|_| LocalError::Stopped)
    }

    async fn run(&self, p: Prepared) -> Result<Reply, LocalError> {
        let (tx, rx) = mpsc::channel(256);
        let job = Job {
            tokens: p.tokens,
            max_out: p.max_out,
            grammar: p.grammar,
            stop: p.request.stop.clone(),
            threads: None,
            ignore_eog: false,
            events: tx,
        };
        self.submit(job)?;
        let ids = ids(&p.request.model);
        if p.request.stream {
            return Ok(Reply::Stream(SseStream {
                rx,
                chunks: Chunks::new(ids, p.request.include_usage),
                queue: VecDeque::new(),
                started: false,
                ended: false,
            }));
        }
        let mut rx = rx;
        let mut whole = Whole::default();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::End(finish) => return Ok(Reply::Whole(whole.body(&ids, &finish))),
                Event::Failed(e) => return Err(LocalError::Inference(e)),
                other => whole.push(other),
            }
        }
        Err(LocalError::Stopped)
    }

    /// Other processes' CPU load as the auto thread policy last saw it, in thousandths of a
    /// core, and the threads it would choose now.
    pub fn cpu_view(&self) -> (u32, u32) {
        (self.inner.watch.others_load(), self.inner.watch.threads())
    }
}

/// Server-sent events of one streamed answer, as OpenAI's wire bytes.
#[derive(Debug)]
pub struct SseStream {
    rx: mpsc::Receiver<Event>,
    chunks: Chunks,
    queue: VecDeque<Bytes>,
    started: bool,
    ended: bool,
}

impl SseStream {
    /// The next event's bytes (`data: …\n\n`); `None` after `data: [DONE]`. Dropping the
    /// stream stops the generation at its next token.
    pub async fn next(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(self.chunks.start());
        }
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some(b);
            }
            if self.ended {
                return None;
            }
            let ev = match self.rx.recv().await {
                Some(ev) => ev,
                None => Event::Failed("the local model stopped before the answer ended".into()),
            };
            self.ended = matches!(ev, Event::End(_) | Event::Failed(_));
            self.queue.extend(self.chunks.push(ev));
        }
    }
}
