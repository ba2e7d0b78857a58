//! The gateway's shared state, built once from the configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nightshift_clock::{now_ms, today};
use nightshift_meter::{BudgetView, Budgets, PriceBook, ResolvedPrice};
use nightshift_spec::{Config, GatewaySettings, ModelConfig, ProviderConfig, ProviderKind};
use nightshift_store::{LedgerWriter, Store, StoreError};

use crate::auth::Auth;
use crate::client::UpstreamClient;
use crate::upstream::Provider;

/// A model clients may ask for, resolved: its provider and its price (or why it has none).
pub struct Route {
    pub config: ModelConfig,
    pub provider: Arc<Provider>,
    pub price: Result<ResolvedPrice, String>,
}

/// Output cap used when neither the client nor the model's config sets one.
pub const DEFAULT_OUTPUT_CAP: u64 = 16_384;

/// The gateway's shared state. Code outside the gateway holds it only to make tokens known
/// and read budgets (the factory's in-process gateway), through the methods below.
pub struct GatewayState {
    pub(crate) settings: GatewaySettings,
    pub(crate) routes: HashMap<String, Route>,
    pub(crate) model_order: Vec<String>,
    pub(crate) auth: Auth,
    pub(crate) budgets: Arc<Budgets>,
    pub(crate) writer: LedgerWriter,
    pub(crate) http: UpstreamClient,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[cfg(feature = "local")]
    #[error("provider `{provider}`: {source}")]
    Local {
        provider: String,
        #[source]
        source: nightshift_local::LocalError,
    },
    #[cfg(not(feature = "local"))]
    #[error(
        "provider `{provider}` is of kind `local`, but this build of nightshift has no local model (build the `nightshift` binary, which enables the `local` feature)"
    )]
    NoLocal { provider: String },
}

#[cfg(not(feature = "local"))]
async fn load_local(config: &ProviderConfig) -> Result<Provider, StartError> {
    Err(StartError::NoLocal {
        provider: config.name.clone(),
    })
}

/// Load a `local` provider's model, off the async runtime (it reads the file's header and
/// maps the file).
#[cfg(feature = "local")]
async fn load_local(config: &ProviderConfig) -> Result<Provider, StartError> {
    use nightshift_spec::LocalThreads;
    let Some(l) = &config.local else {
        return Ok(Provider::from_env(config.clone()));
    };
    let options = nightshift_local::LocalOptions {
        model_path: l.model_path.clone(),
        context_tokens: l.context_tokens,
        max_output_tokens: l.max_output_tokens,
        threads: match l.threads {
            LocalThreads::Auto => nightshift_local::Threads::Auto,
            LocalThreads::Fixed(n) => std::num::NonZeroU32::new(n).map_or(
                nightshift_local::Threads::Auto,
                nightshift_local::Threads::Fixed,
            ),
        },
    };
    let local_err = |source| StartError::Local {
        provider: config.name.clone(),
        source,
    };
    let model = tokio::task::spawn_blocking(move || nightshift_local::LocalModel::load(&options))
        .await
        .map_err(|_| local_err(nightshift_local::LocalError::Stopped))?
        .map_err(local_err)?;
    Ok(Provider::local(config.clone(), model))
}

impl GatewayState {
    /// What a token has spent and may still spend, reservations of calls in flight
    /// included; `None` for a token this gateway has not seen (see [`Self::register`]).
    pub fn budget_of(&self, token_id: &str) -> Option<BudgetView> {
        self.budgets.view(token_id)
    }

    /// What calls in flight hold, over every budget: zero once every call has settled.
    pub fn total_reserved(&self) -> i64 {
        self.budgets.total_reserved()
    }

    /// Mark the tokens revoked in the store as revoked here now (the gateway also does this
    /// every second while it serves).
    pub async fn refresh_revocations(&self) -> Result<(), StoreError> {
        self.auth.refresh_revocations().await
    }

    /// Make a token minted while the gateway runs known to its budgets at once (otherwise
    /// it is loaded on its first call), so its owner can read its budget before calling.
    pub fn register(&self, token: &nightshift_store::TokenRecord) {
        if !self.budgets.contains(&token.id) {
            self.budgets.insert(
                &token.id,
                &token.label,
                token.budget_nanos,
                token.parent_id.as_deref(),
                0,
            );
        }
    }

    /// Build the state: providers with their keys, priced routes, budgets loaded from the
    /// ledger, calls a crash left in flight settled, and the ledger writer started.
    pub async fn build(
        config: &Config,
        store: Arc<dyn Store>,
        book: &PriceBook,
    ) -> Result<Arc<Self>, StartError> {
        // The write-ahead journal: replay what the ledger did not get before a crash, then
        // settle calls that were in flight at their reservation.
        let journal = match nightshift_store::Journal::path_for(&config.store.url) {
            Some(path) => Some(Arc::new(nightshift_store::Journal::open(&path)?)),
            None => None,
        };
        if let Some(j) = &journal {
            let replayed = j.replay(store.as_ref()).await?;
            if replayed > 0 {
                tracing::warn!(
                    records = replayed,
                    "Replayed ledger records an earlier stop left in the journal."
                );
            }
        }
        let recovered = store.recover_inflight(now_ms()).await?;
        if recovered > 0 {
            tracing::warn!(
                calls = recovered,
                "Calls left in flight by an earlier stop were settled at their reservation."
            );
        }
        let mut providers: HashMap<String, Arc<Provider>> = HashMap::new();
        for p in &config.providers {
            let provider = match p.kind {
                ProviderKind::Local => load_local(p).await?,
                _ => Provider::from_env(p.clone()),
            };
            providers.insert(p.name.clone(), Arc::new(provider));
        }
        let date = today();
        let mut routes = HashMap::new();
        let mut model_order = Vec::new();
        for m in &config.models {
            let Some(provider) = providers.get(&m.provider).cloned() else {
                continue;
            };
            // A model run in this process is free by its provider's kind: it needs no entry
            // in the price book, and is metered at $0 with its token counts.
            let price = if provider.config.kind == ProviderKind::Local {
                Ok(ResolvedPrice::local())
            } else {
                book.resolve(m, &date).map_err(|e| e.to_string())
            };
            if let Err(e) = &price {
                tracing::warn!(model = %m.name, error = %e, "Model has no price; calls to it will be refused.");
            }
            model_order.push(m.name.clone());
            routes.insert(
                m.name.clone(),
                Route {
                    config: m.clone(),
                    provider,
                    price,
                },
            );
        }
        let budgets = Arc::new(Budgets::new());
        let auth = Auth::load(store.clone(), budgets.clone()).await?;
        let writer = match journal {
            Some(j) => LedgerWriter::spawn_with_journal(store.clone(), j),
            None => LedgerWriter::spawn(store.clone()),
        };
        let http = UpstreamClient::new(Duration::from_millis(config.gateway.connect_timeout_ms))?;
        Ok(Arc::new(Self {
            settings: config.gateway.clone(),
            routes,
            model_order,
            auth,
            budgets,
            writer,
            http,
        }))
    }
}
