//! `passgate keys create|list|revoke`: API keys in a store, through the operation layer.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::{load_issuer, out, pretty, CliResult, Fail, Format, Io};
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
    /// Create an API key; prints its secret, shown this once (with --format json: the secret and
    /// the key's metadata).
    Create {
        #[command(flatten)]
        at: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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
    /// List API keys (never a secret): one line each, or JSON.
    List {
        #[command(flatten)]
        at: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke an API key by id: it stops authenticating at once (an unknown id: exit 1,
    /// error[API_KEY_UNKNOWN]).
    Revoke {
        #[command(flatten)]
        at: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The key's id (as listed).
        id: String,
    },
}

pub(super) fn engine(at: &StoreArgs) -> std::result::Result<Engine, Fail> {
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

/// A time in milliseconds as RFC 3339 (UTC, seconds).
fn when(v: &Value) -> String {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "-".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

/// One key's line: id, name, scopes, created, expiry, last use, state.
fn line(k: &Value) -> String {
    let text = |f: &str| k.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let scopes: Vec<&str> = k
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let field = |f: &str| k.get(f).unwrap_or(&Value::Null);
    let state = if !field("revoked_at").is_null() {
        format!("revoked {}", when(field("revoked_at")))
    } else {
        "active".to_string()
    };
    format!(
        "{}  {:?}  {}  created {}  expires {}  last used {}  {state}",
        text("id"),
        text("name"),
        scopes.join(","),
        when(field("created_at")),
        if field("expires_at").is_null() {
            "never".to_string()
        } else {
            when(field("expires_at"))
        },
        when(field("last_used_at")),
    )
}

pub(super) fn run(cmd: KeysCmd, io: &mut Io<'_>) -> CliResult {
    let (at, name, args, format) = match cmd {
        KeysCmd::Create {
            at,
            format,
            name,
            scopes,
            expires_in,
        } => {
            let mut a = json!({"name": name, "scopes": scopes});
            if let (Some(t), Some(m)) = (expires_in, a.as_object_mut()) {
                m.insert("expires_in".into(), Value::String(t));
            }
            (at, "create_api_key", a, format)
        }
        KeysCmd::List { at, format } => (at, "list_api_keys", json!({}), format),
        KeysCmd::Revoke { at, format, id } => (at, "revoke_api_key", json!({"id": id}), format),
    };
    let engine = engine(&at)?;
    let result = ops::call(&engine, name, args);
    engine.close();
    let result = result?;
    if format == Format::Json {
        return out(io, &pretty(&result));
    }
    match name {
        "create_api_key" => {
            let secret = result.get("secret").and_then(Value::as_str).unwrap_or("");
            out(io, secret)?;
            let _ = writeln!(
                io.stderr,
                "passgate: created {}; its secret (on stdout) is shown this once: keep it now",
                line(&result)
            );
            Ok(())
        }
        "list_api_keys" => {
            let keys = result.get("keys").and_then(Value::as_array);
            for k in keys.into_iter().flatten() {
                out(io, &line(k))?;
            }
            Ok(())
        }
        _ => out(io, &line(&result)),
    }
}
