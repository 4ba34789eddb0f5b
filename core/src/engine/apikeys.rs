//! API keys: creating, listing, revoking and authenticating them (see [`crate::apikey`]).

use serde::Serialize;
use serde_json::json;

use super::{Engine, Event};
use crate::apikey::{self, ApiKeyPrincipal, ApiKeyRecord, Scope, StoredApiKey};
use crate::error::{Error, Result};

/// A SHA-256 (hex) no secret has: an unknown id is compared against it, so an unknown key costs
/// the same comparison as a wrong secret.
const NO_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A new API key: its metadata and its secret, which is shown this once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CreatedApiKey {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKeyRecord,
    /// The secret (`pgk_<id>_<random>`): returned only here, once; passgate keeps its SHA-256.
    pub secret: String,
}

impl Engine {
    /// Creates an API key named `name` (1–128 characters) with `scopes` (at least one, none
    /// twice) that expires `expires_in_ms` from now (`None`: never). Returns its metadata and
    /// its secret, which is not stored (only its SHA-256 is) and cannot be shown again. Writes
    /// an attestation of kind `api_key.created` (id, name, scopes, expiry; never the secret).
    pub fn create_api_key(
        &self,
        name: &str,
        scopes: &[Scope],
        expires_in_ms: Option<i64>,
    ) -> Result<CreatedApiKey> {
        self.same_process()?;
        apikey::check_new(name, scopes)?;
        let now = self.clock.now_ms();
        let expires_at = match expires_in_ms {
            None => None,
            Some(ms) if ms > 0 => Some(now.saturating_add(ms)),
            Some(ms) => {
                return Err(Error::argument(
                    "/expires_in",
                    format!("a key's lifetime must be positive, not {ms} ms"),
                ))
            }
        };
        // Ids are 60 random bits: a collision is retried rather than overwriting a key.
        for _ in 0..4 {
            let (id, secret) = apikey::new_secret()?;
            let record = ApiKeyRecord {
                id: id.clone(),
                name: name.to_string(),
                scopes: scopes.to_vec(),
                created_at: now,
                expires_at,
                last_used_at: None,
                revoked_at: None,
            };
            let stored = StoredApiKey {
                record: record.clone(),
                secret_sha256: apikey::hash_secret(&secret),
            };
            if !self.store.api_key_create(&stored)? {
                continue;
            }
            let attested = self.append_event(
                "api_key.created",
                &json!({"id": id, "name": name, "scopes": scopes, "expires_at": expires_at}),
                Event::default(),
            );
            if let Err(e) = attested {
                // A key nobody attested to must not work: take it back (best effort; the
                // error that matters is the attestation's).
                let _ = self.store.api_key_revoke(&id, now);
                return Err(e);
            }
            return Ok(CreatedApiKey {
                key: record,
                secret,
            });
        }
        Err(Error::Internal(
            "four random API key ids in a row were taken".into(),
        ))
    }

    /// Every API key's metadata (never a secret or its hash), oldest first.
    pub fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.same_process()?;
        let mut keys: Vec<ApiKeyRecord> = self
            .store
            .api_keys()?
            .into_iter()
            .map(|k| k.record)
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    /// Revokes an API key by id: it stops authenticating at once, on every engine sharing the
    /// store. Idempotent (revoking a revoked key returns it unchanged and records nothing); the
    /// first revocation writes an attestation of kind `api_key.revoked`. An unknown id is
    /// `API_KEY_UNKNOWN`.
    pub fn revoke_api_key(&self, id: &str) -> Result<ApiKeyRecord> {
        self.same_process()?;
        let unknown = || Error::ApiKeyUnknown(format!("no API key with id {id:?}"));
        let key = self.store.api_key_get(id)?.ok_or_else(unknown)?;
        if key.record.revoked_at.is_some() {
            return Ok(key.record);
        }
        let now = self.clock.now_ms();
        let revoked_at = self.store.api_key_revoke(id, now)?.ok_or_else(unknown)?;
        let r = &key.record;
        self.append_event(
            "api_key.revoked",
            &json!({"id": r.id, "name": r.name, "scopes": r.scopes, "expires_at": r.expires_at}),
            Event::default(),
        )?;
        Ok(ApiKeyRecord {
            revoked_at: Some(revoked_at),
            ..key.record
        })
    }

    /// Who the API key `secret` is. A missing, malformed, unknown, revoked or expired key, or a
    /// wrong secret for a known id, is `UNAUTHENTICATED` (the message never holds the secret);
    /// the secret's hash is compared in constant time. Records the key's use (`last_used_at`) at
    /// most once a minute, so authenticating is a read, not a write, on nearly every call; that
    /// write is best effort (a store too busy for it does not refuse the key).
    pub fn authenticate_api_key(&self, secret: &str) -> Result<ApiKeyPrincipal> {
        self.same_process()?;
        let Some(id) = apikey::id_of(secret) else {
            return Err(Error::Unauthenticated(
                "not an API key (expected pgk_<id>_<secret>)".into(),
            ));
        };
        let stored = self.store.api_key_get(id)?;
        let presented = apikey::hash_secret(secret);
        let expected = stored.as_ref().map_or(NO_KEY, |k| k.secret_sha256.as_str());
        let matches = apikey::constant_time_eq(presented.as_bytes(), expected.as_bytes());
        let key = match stored {
            Some(k) if matches => k.record,
            _ => {
                return Err(Error::Unauthenticated(format!(
                    "API key {id}: unknown, or a wrong secret"
                )))
            }
        };
        let now = self.clock.now_ms();
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated(format!("API key {id} was revoked")));
        }
        if key.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::Unauthenticated(format!("API key {id} expired")));
        }
        let stale = key
            .last_used_at
            .is_none_or(|t| now.saturating_sub(t) >= apikey::LAST_USED_EVERY_MS);
        if stale {
            let _ = self.store.api_key_touch(id, now);
        }
        Ok(ApiKeyPrincipal {
            id: key.id,
            name: key.name,
            scopes: key.scopes,
        })
    }
}
