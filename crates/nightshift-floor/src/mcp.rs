//! `nightshift mcp`: the floor as an MCP server on stdio (the official Rust SDK, `rmcp`), so
//! that an agent can supervise the factory. Its tools are the floor's operations — the
//! line, a shift, a job, a job's last diff, the ledger, starting a shift, and the
//! supervisor's actions — answered from the same views and recorded by the same [`act`]
//! as the HTTP API, as `mcp` in the event log.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use nightshift_store::{Backend, Control};

use crate::act::{ActError, act};
use crate::{Diffs, views};

/// Starts a shift from a spec file (the binary runs `nightshift run` for it).
pub trait Launch: Send + Sync {
    fn start<'a>(
        &'a self,
        spec: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;
}

/// The MCP server's state: what the floor reads, and how a shift is started.
#[derive(Clone)]
pub struct Mcp {
    pub store: Arc<dyn Backend>,
    pub diffs: Option<Arc<dyn Diffs>>,
    pub launch: Option<Arc<dyn Launch>>,
}

/// Serve MCP on this process's stdin and stdout until the client closes them.
pub async fn serve_stdio(mcp: Mcp) -> Result<(), std::io::Error> {
    let running = mcp
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

fn schema(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let v = json!({"type": "object", "properties": properties, "required": required});
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn tools() -> Vec<Tool> {
    let shift = json!({"type": "string", "description": "the shift's name"});
    let job = json!({"type": "string", "description": "a job of the shift (a repository's name)"});
    vec![
        Tool::new(
            "list_shifts",
            "Every shift in the store: state, jobs by state, iterations, accepted changes, defects, dollars (nanodollars) spent and budget, and whether it is paused.",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "shift_status",
            "One shift: its jobs (a page of them) with state, iteration, accepted, defects, dollars, stop reason and landing, and what needs a supervisor's attention, ranked, with reasons.",
            schema(
                json!({"shift": shift, "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": 500}}),
                &["shift"],
            ),
        ),
        Tool::new(
            "job_status",
            "One job: its iterations (diff stats, gate results with evidence, the worker's events), its spend, its controls and history.",
            schema(json!({"shift": shift, "job": job}), &["shift", "job"]),
        ),
        Tool::new(
            "last_diff",
            "The unified diff of a job's latest committed iteration.",
            schema(json!({"shift": shift, "job": job}), &["shift", "job"]),
        ),
        Tool::new(
            "ledger",
            "Model calls, tokens and nanodollars, grouped by shift, job or model.",
            schema(
                json!({"by": {"type": "string", "enum": ["shift", "job", "model"]}}),
                &[],
            ),
        ),
        Tool::new(
            "start_shift",
            "Start (or continue) a shift from its spec file (`nightshift run SPEC` in the background).",
            schema(
                json!({"spec": {"type": "string", "description": "path of the shift.toml"}}),
                &["spec"],
            ),
        ),
        Tool::new(
            "pause",
            "Pause a shift (no job or iteration starts) or one job of it (no iteration starts); the running iteration finishes.",
            schema(json!({"shift": shift, "job": job}), &["shift"]),
        ),
        Tool::new(
            "resume",
            "Resume a paused shift or job.",
            schema(json!({"shift": shift, "job": job}), &["shift"]),
        ),
        Tool::new(
            "kill",
            "End a job's running iteration now (its work is committed and gated) and stop the job.",
            schema(json!({"shift": shift, "job": job}), &["shift", "job"]),
        ),
        Tool::new(
            "steer",
            "Give a job's next iteration a note, as part of its prompt.",
            schema(
                json!({"shift": shift, "job": job, "note": {"type": "string"}}),
                &["shift", "job", "note"],
            ),
        ),
        Tool::new(
            "requeue",
            "Give a stopped job more iterations or dollars (within the shift's budget).",
            schema(
                json!({"shift": shift, "job": job, "iterations": {"type": "integer", "minimum": 0}, "usd": {"type": "string", "description": "dollars, e.g. \"0.50\""}}),
                &["shift", "job"],
            ),
        ),
    ]
}

/// A tool's answer: its JSON as text, or the error in words (a tool error, not a protocol
/// one, so the agent reads what to do).
fn answer(result: Result<Value, String>) -> CallToolResult {
    match result {
        Ok(v) => CallToolResult::success(vec![ContentBlock::text(
            serde_json::to_string_pretty(&v).unwrap_or_default(),
        )]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
    }
}

fn text(args: &Map<String, Value>, key: &str) -> Result<String, String> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("`{key}` is required (a string)"))
}

fn acted(r: Result<crate::Acted, ActError>) -> Result<Value, String> {
    r.map(|a| serde_json::to_value(a).unwrap_or_default())
        .map_err(|e| e.to_string())
}

impl Mcp {
    async fn call(&self, name: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let store = self.store.as_ref();
        let by = "mcp";
        let job = args.get("job").and_then(Value::as_str);
        let store_err = |e: nightshift_store::StoreError| e.to_string();
        match name {
            "list_shifts" => {
                let mut out = Vec::new();
                for row in store.shifts().await.map_err(store_err)? {
                    out.push(views::shift_view(store, row).await.map_err(store_err)?);
                }
                Ok(json!({ "shifts": out }))
            }
            "shift_status" => {
                let shift = text(args, "shift")?;
                let row = store
                    .shift(&shift)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| format!("no shift named `{shift}` in this store"))?;
                let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0);
                let limit = args
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(100)
                    .clamp(1, 500);
                let d = views::shift_detail(store, row, offset as usize, limit as usize)
                    .await
                    .map_err(store_err)?;
                Ok(serde_json::to_value(d).unwrap_or_default())
            }
            "job_status" | "last_diff" => {
                let shift = text(args, "shift")?;
                let job = text(args, "job")?;
                let row = store
                    .jobs(&shift)
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .find(|j| j.name == job)
                    .ok_or_else(|| format!("shift `{shift}` has no job `{job}`"))?;
                if name == "job_status" {
                    let d = views::job_detail(store, &shift, row)
                        .await
                        .map_err(store_err)?;
                    return Ok(serde_json::to_value(d).unwrap_or_default());
                }
                let last = store
                    .iterations(&shift, &job)
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .rev()
                    .find(|i| i.commit_sha.is_some())
                    .ok_or_else(|| format!("job `{job}` has no committed iteration yet"))?;
                let diffs = self
                    .diffs
                    .as_ref()
                    .ok_or("this server was started without the factory's repositories")?;
                let diff = diffs.diff(&shift, &job, last.n).await?;
                Ok(json!({"iteration": last.n, "diff": diff}))
            }
            "ledger" => {
                let by = args.get("by").and_then(Value::as_str).unwrap_or("model");
                let rows = views::ledger(store, by)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| format!("`by` is `shift`, `job` or `model`, not `{by}`"))?;
                Ok(json!({"by": by, "totals": rows}))
            }
            "start_shift" => {
                let spec = text(args, "spec")?;
                let launch = self
                    .launch
                    .as_ref()
                    .ok_or("this server cannot start shifts")?;
                Ok(json!({"started": launch.start(&spec).await?}))
            }
            "pause" => acted(act(store, &text(args, "shift")?, job, Control::Pause, by).await),
            "resume" => acted(act(store, &text(args, "shift")?, job, Control::Resume, by).await),
            "kill" => {
                let job = text(args, "job")?;
                acted(act(store, &text(args, "shift")?, Some(&job), Control::Kill, by).await)
            }
            "steer" => {
                let job = text(args, "job")?;
                let note = text(args, "note")?;
                acted(
                    act(
                        store,
                        &text(args, "shift")?,
                        Some(&job),
                        Control::Steer { note },
                        by,
                    )
                    .await,
                )
            }
            "requeue" => {
                let job = text(args, "job")?;
                let usd_nanos = match args.get("usd").and_then(Value::as_str) {
                    Some(u) => {
                        nightshift_spec::money::parse_usd(u).map_err(|e| format!("`usd`: {e}"))?
                    }
                    None => 0,
                };
                let iterations = args
                    .get("iterations")
                    .and_then(Value::as_u64)
                    .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
                let action = Control::Requeue {
                    iterations,
                    usd_nanos,
                };
                acted(act(store, &text(args, "shift")?, Some(&job), action, by).await)
            }
            other => Err(format!("no tool named `{other}`")),
        }
    }
}

impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("nightshift", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "nightshift's floor: read the line (list_shifts, shift_status, job_status, last_diff, ledger) and steer it (pause, resume, kill, steer, requeue, start_shift). Dollars are integer nanodollars.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = self.call(&request.name, &args).await;
        if let Err(e) = &result {
            tracing::info!(tool = %request.name, error = %e, "An MCP tool call was refused.");
        }
        Ok(answer(result).into())
    }
}
