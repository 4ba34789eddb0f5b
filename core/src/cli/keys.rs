//! `passgate keys create|list|revoke`: API keys in a store, through the operation layer.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::{load_issuer, out, pretty, CliResult, Fail, Io};
use crate::{ops, Engine, KeyPair};

/// Where the keys are, and who signs the attestations of their changes.
#[derive(clap::Args, Debug)]
pub(super) struct StoreArgs {
    /// The store URL (sqlite:///path, redis://host/db).
    #[arg(long, value_name = "URL")]
    store: String,
    /// The attestation signing key (a `keygen` file or bare secret) [PASSGATE_SIGNING_SECRET];
    /// without one, this run's records are signed by a key of its own.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(super) enum KeysCmd {
    /// Create an API key; prints its metadata and its secret (shown this once).
    Create {
        #[command(flatten)]
        at: StoreArgs,
        /// The key's name, e.g. the host or tool it is for.
        #[arg(long)]
        name: String,
        /// A scope (repeatable): decide, read:attestations, admin:passports, admin:policy,
        /// admin:counters, approve, admin:keys.
        #[arg(long = "scope", value_name = "SCOPE", required = true, num_args = 1..)]
        scopes: Vec<String>,
        /// Its lifetime (seconds, or 30s, 15m, 1h, 1d); default: it never expires.
        #[arg(long, value_name = "TTL")]
        expires_in: Option<String>,
    },
    /// List API keys (never a secret).
    List {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Revoke an API key by id.
    Revoke {
        #[command(flatten)]
        at: StoreArgs,
        /// The key's id (as listed).
        id: String,
    },
}

fn engine(at: &StoreArgs) -> std::result::Result<Engine, Fail> {
    let mut b = Engine::builder().store_url(&at.store);
    if let Some(f) = &at.signing_key {
        b = b.signing_key(load_issuer(f)?.key().clone());
    } else if let Some(s) = std::env::var("PASSGATE_SIGNING_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        b = b.signing_key(KeyPair::from_secret(&s)?);
    }
    Ok(b.build()?)
}

pub(super) fn run(cmd: KeysCmd, io: &mut Io<'_>) -> CliResult {
    let (at, name, args) = match cmd {
        KeysCmd::Create {
            at,
            name,
            scopes,
            expires_in,
        } => {
            let mut a = json!({"name": name, "scopes": scopes});
            if let (Some(t), Some(m)) = (expires_in, a.as_object_mut()) {
                m.insert("expires_in".into(), Value::String(t));
            }
            (at, "create_api_key", a)
        }
        KeysCmd::List { at } => (at, "list_api_keys", json!({})),
        KeysCmd::Revoke { at, id } => (at, "revoke_api_key", json!({"id": id})),
    };
    let engine = engine(&at)?;
    let result = ops::call(&engine, name, args);
    engine.close();
    out(io, &pretty(&result?))
}
