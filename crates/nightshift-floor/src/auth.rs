//! Who may read the floor and who may act on it. On a loopback address, with
//! `require_token` off, no token is needed (the same user, as with a local development
//! server). Otherwise every request carries a floor token — `Authorization: Bearer nsf_…`,
//! or `?token=nsf_…` where a browser cannot set a header (the live stream) — a viewer's to
//! read, an operator's to act too. Floor tokens live apart from the gateway's: neither
//! opens the other.

use rand::RngCore;
use sha2::{Digest, Sha256};

use nightshift_store::{FloorRole, FloorToken, NewFloorToken, StoreError};

/// How the floor decides who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect reads and acts (loopback only, unless told otherwise).
    Open,
    /// A floor token is needed for every request.
    Tokens,
}

/// Who is asking, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Who {
    pub role: FloorRole,
    /// As the event log records it.
    pub by: String,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No token, or one this store does not know (or revoked): 401.
    Unknown(&'static str),
    /// A viewer's token on an action: 403.
    ViewerActs,
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Who a request's token says it is, or why not.
pub(crate) async fn identify(
    access: Access,
    store: &dyn nightshift_store::Backend,
    secret: Option<&str>,
    acts: bool,
) -> Result<Who, Refused> {
    let who = match access {
        Access::Open => Who {
            role: FloorRole::Operator,
            by: "floor (loopback)".into(),
        },
        Access::Tokens => {
            let Some(secret) = secret.filter(|s| !s.is_empty()) else {
                return Err(Refused::Unknown(
                    "this floor needs a token: send `Authorization: Bearer nsf_…` (mint one with `nightshift token create --floor viewer|operator`)",
                ));
            };
            let token = match store.floor_token_by_secret_hash(&hash_secret(secret)).await {
                Ok(Some(t)) if t.revoked_ms.is_none() => t,
                Ok(_) => {
                    return Err(Refused::Unknown(
                        "this token is not a floor token of this store, or it was revoked",
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Could not read the floor's tokens.");
                    return Err(Refused::Unknown("the floor could not check this token"));
                }
            };
            Who {
                role: token.role,
                by: format!("floor token `{}` ({})", token.label, token.id),
            }
        }
    };
    if acts && who.role != FloorRole::Operator {
        return Err(Refused::ViewerActs);
    }
    Ok(who)
}

/// A freshly minted floor token: the secret (shown once) and its record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MintedFloorToken {
    pub token: String,
    #[serde(flatten)]
    pub record: FloorToken,
}

/// Mint a floor token for `role`.
pub async fn mint_floor_token(
    store: &dyn nightshift_store::Backend,
    role: FloorRole,
    label: &str,
    now_ms: i64,
) -> Result<MintedFloorToken, StoreError> {
    let hex = |n: usize| {
        let mut b = vec![0u8; n];
        rand::rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let secret = format!("nsf_{}", hex(24));
    let record = store
        .create_floor_token(NewFloorToken {
            id: format!("flt_{}", hex(8)),
            secret_sha256: hash_secret(&secret),
            label: label.to_string(),
            role,
            created_ms: now_ms,
        })
        .await?;
    Ok(MintedFloorToken {
        token: secret,
        record,
    })
}
