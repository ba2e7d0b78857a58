//! Scoped tokens: minting, and checking them on every call.
//!
//! A token's secret is shown once, when minted; the store keeps only its SHA-256. The
//! gateway keeps every token it has seen in memory, finds new ones in the store on first
//! use, and polls the store for revocations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rand::RngCore;
use sha2::{Digest, Sha256};

use nightshift_meter::Budgets;
use nightshift_store::{NewToken, Store, StoreError, TokenRecord, TokenStore};

use crate::error::ApiError;

/// What a request authenticated as.
#[derive(Debug)]
pub struct Caller {
    pub id: Arc<str>,
    /// Labels from the root budget down to this token, joined by `/`.
    pub label_chain: String,
    pub expires_ms: Option<i64>,
    revoked: AtomicBool,
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A freshly minted token: the secret (shown once) and its record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Minted {
    pub token: String,
    #[serde(flatten)]
    pub record: TokenRecord,
}

/// Mint a token with a budget, under an optional parent (given by id or by secret).
pub async fn mint(
    store: &dyn TokenStore,
    label: &str,
    budget_nanos: i64,
    parent: Option<&str>,
    expires_ms: Option<i64>,
    now_ms: i64,
) -> Result<Minted, StoreError> {
    if budget_nanos < 0 {
        return Err(StoreError::Invalid("a budget cannot be negative".into()));
    }
    let parent_id = match parent {
        None => None,
        Some(p) if p.starts_with("nsk_") => {
            match store.token_by_secret_hash(&hash_secret(p)).await? {
                Some(t) => Some(t.id),
                None => {
                    return Err(StoreError::Invalid(
                        "the parent token given is not known to this store".into(),
                    ));
                }
            }
        }
        Some(p) => Some(p.to_string()),
    };
    let secret = format!("nsk_{}", random_hex(24));
    let record = store
        .create_token(NewToken {
            id: format!("tok_{}", random_hex(8)),
            secret_sha256: hash_secret(&secret),
            label: label.to_string(),
            parent_id,
            budget_nanos,
            created_ms: now_ms,
            expires_ms,
        })
        .await?;
    Ok(Minted {
        token: secret,
        record,
    })
}

#[derive(Default)]
struct Known {
    by_hash: HashMap<String, Arc<Caller>>,
    by_id: HashMap<String, TokenRecord>,
}

pub struct Auth {
    known: RwLock<Known>,
    store: Arc<dyn Store>,
    budgets: Arc<Budgets>,
}

impl Auth {
    /// Load every token and its spend so far (its own and its descendants') into budgets.
    pub async fn load(store: Arc<dyn Store>, budgets: Arc<Budgets>) -> Result<Self, StoreError> {
        let tokens = store.tokens().await?;
        let own: HashMap<String, i64> = store.spent_by_token().await?.into_iter().collect();
        let by_id: HashMap<String, TokenRecord> =
            tokens.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut spent: HashMap<&str, i64> = HashMap::new();
        for (id, amount) in &own {
            let mut cur = by_id.get(id.as_str());
            let mut hops = 0;
            while let Some(t) = cur {
                *spent.entry(t.id.as_str()).or_default() += amount;
                cur = t.parent_id.as_deref().and_then(|p| by_id.get(p));
                hops += 1;
                if hops > 64 {
                    break;
                }
            }
        }
        for t in by_id.values() {
            budgets.insert(
                &t.id,
                &t.label,
                t.budget_nanos,
                t.parent_id.as_deref(),
                spent.get(t.id.as_str()).copied().unwrap_or(0),
            );
        }
        let auth = Self {
            known: RwLock::new(Known {
                by_hash: HashMap::new(),
                by_id,
            }),
            store,
            budgets,
        };
        Ok(auth)
    }

    fn label_chain(by_id: &HashMap<String, TokenRecord>, id: &str) -> String {
        let mut labels = Vec::new();
        let mut cur = by_id.get(id);
        while let Some(t) = cur {
            labels.push(t.label.as_str());
            if labels.len() > 64 {
                break;
            }
            cur = t.parent_id.as_deref().and_then(|p| by_id.get(p));
        }
        labels.reverse();
        labels.join("/")
    }

    /// Check a presented secret.
    pub async fn authenticate(
        &self,
        secret: Option<&str>,
        now_ms: i64,
    ) -> Result<Arc<Caller>, ApiError> {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            return Err(ApiError::Unauthorized(
                "no gateway token: send `Authorization: Bearer nsk_…` (or `x-api-key`); mint one with `nightshift token create`".into(),
            ));
        };
        let hash = hash_secret(secret);
        let cached = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_hash
            .get(&hash)
            .cloned();
        let caller = match cached {
            Some(c) => c,
            None => self.load_token(&hash).await?,
        };
        if caller.revoked.load(Ordering::Relaxed) {
            return Err(ApiError::Unauthorized(
                "this gateway token has been revoked".into(),
            ));
        }
        if caller.expires_ms.is_some_and(|e| e <= now_ms) {
            return Err(ApiError::Unauthorized(
                "this gateway token has expired".into(),
            ));
        }
        Ok(caller)
    }

    async fn load_token(&self, hash: &str) -> Result<Arc<Caller>, ApiError> {
        let unknown = || ApiError::Unauthorized("unknown gateway token".into());
        let internal = |e: StoreError| ApiError::Internal(e.to_string());
        let Some(record) = self
            .store
            .token_by_secret_hash(hash)
            .await
            .map_err(internal)?
        else {
            return Err(unknown());
        };
        // Bring in any ancestors minted since start, root first, so the chain is whole.
        let mut missing = Vec::new();
        let mut next = Some(record.clone());
        while let Some(t) = next.take() {
            let parent = t.parent_id.clone();
            let known = self
                .known
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .by_id
                .contains_key(&t.id);
            if !known {
                missing.push(t);
            }
            if let Some(p) = parent.filter(|_| !known) {
                next = self.store.token(&p).await.map_err(internal)?;
            }
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        for t in missing.into_iter().rev() {
            if !self.budgets.contains(&t.id) {
                self.budgets
                    .insert(&t.id, &t.label, t.budget_nanos, t.parent_id.as_deref(), 0);
            }
            known.by_id.insert(t.id.clone(), t);
        }
        let caller = Arc::new(Caller {
            id: Arc::from(record.id.as_str()),
            label_chain: Self::label_chain(&known.by_id, &record.id),
            expires_ms: record.expires_ms,
            revoked: AtomicBool::new(record.revoked_ms.is_some()),
        });
        known.by_hash.insert(hash.to_string(), caller.clone());
        Ok(caller)
    }

    /// Mark tokens revoked in the store as revoked here (a revoked parent revokes its
    /// children).
    pub async fn refresh_revocations(&self) -> Result<(), StoreError> {
        // Polled every second: read only the revoked ids, not every token.
        let revoked: std::collections::HashSet<String> =
            self.store.revoked_token_ids().await?.into_iter().collect();
        if revoked.is_empty() {
            return Ok(());
        }
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        for caller in known.by_hash.values() {
            let mut cur = known.by_id.get(caller.id.as_ref());
            while let Some(t) = cur {
                if revoked.contains(&t.id) {
                    caller.revoked.store(true, Ordering::Relaxed);
                    break;
                }
                cur = t.parent_id.as_deref().and_then(|p| known.by_id.get(p));
            }
        }
        Ok(())
    }
}
