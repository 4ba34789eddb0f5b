//! `passgate mcp serve`: passgate's MCP tools on stdio (newline-delimited JSON-RPC through
//! [`crate::mcp::handle`]). Logs go to stderr: stdout is the transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::http::HttpOptions;
use super::{load_issuer, read_text, write_private, CliResult, Fail, Io};
use crate::apikey::Scope;
use crate::gateway::GatewayConfig;
use crate::json::{self, Limits};
use crate::mcp::{self, Caller, Role};
use crate::{Engine, Issuer, KeyPair, PassportRequest};

/// The demo policy, served when no `--policy` (nor `PASSGATE_POLICY`) is given.
const DEMO_POLICY: &str = include_str!("../../../examples/mcp/demo-policy.json");
/// The demo agent's permissions.
const DEMO_PERMISSIONS: [&str; 2] = ["payments:send", "web:fetch"];

/// `mcp serve` options; each falls back to its environment variable (in brackets).
#[derive(Args, Debug, Clone, Default)]
pub(super) struct ServeArgs {
    /// Serve MCP over HTTP on PORT instead of stdio.
    #[arg(long, value_name = "PORT")]
    pub(super) http: Option<u16>,
    /// The HTTP listener's address.
    #[arg(long, default_value = "127.0.0.1")]
    pub(super) host: String,
    /// The tools served: the governed agent's, or every tool for the operator's own client.
    /// (stdio only: over HTTP the caller's credential decides.)
    #[arg(long, default_value = "agent", value_parser = ["agent", "operator"],
          conflicts_with = "http")]
    pub(super) role: String,
    /// The policy file [PASSGATE_POLICY]; default: the demo policy.
    #[arg(long, value_name = "FILE")]
    pub(super) policy: Option<PathBuf>,
    /// The store URL [PASSGATE_STORE]; default memory:.
    #[arg(long, value_name = "URL")]
    pub(super) store: Option<String>,
    /// The agent's passport file (agent role, stdio only) [PASSGATE_PASSPORT_FILE].
    #[arg(long, value_name = "F", conflicts_with = "http")]
    pub(super) passport_file: Option<PathBuf>,
    /// A trusted issuer's did:key (repeatable) [PASSGATE_TRUSTED_ISSUERS, comma-separated].
    /// None: demo mode (a demo issuer is trusted; the agent gets a demo passport).
    #[arg(long, value_name = "DID", num_args = 1..)]
    pub(super) trust: Vec<String>,
    /// The issuer key the operator's issue_passport signs with.
    #[arg(long, value_name = "FILE")]
    pub(super) issuer_key: Option<PathBuf>,
    /// HTTP: an origin a browser request may come from (repeatable; others are 403)
    /// [PASSGATE_MCP_ALLOWED_ORIGINS, comma-separated].
    #[arg(long, value_name = "ORIGIN", num_args = 1..)]
    pub(super) allowed_origin: Vec<String>,
    /// HTTP: serve a request with no credential, as an anonymous agent
    /// [PASSGATE_MCP_ALLOW_ANONYMOUS].
    #[arg(long)]
    pub(super) allow_anonymous: bool,
    /// HTTP: the endpoint's public URL, for the protected-resource metadata
    /// [PASSGATE_MCP_RESOURCE].
    #[arg(long, value_name = "URL")]
    pub(super) resource: Option<String>,
    /// HTTP: seconds a client has to send its whole request (and to read the answer).
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(super) timeout: u64,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The demo issuer and signing key: kept next to a persistent SQLite store (0600), fresh
/// otherwise.
fn demo_keys(store: &str, io: &mut Io<'_>) -> std::result::Result<(Issuer, String), Fail> {
    let path = store.strip_prefix("sqlite://").map(|p| {
        PathBuf::from(format!(
            "{}.demo-keys.json",
            p.split('?').next().unwrap_or(p)
        ))
    });
    let Some(path) = path else {
        return Ok((Issuer::generate()?, KeyPair::generate()?.secret()));
    };
    if path.exists() {
        let v = json::parse_in(&read_text(&path)?, Limits::PAYLOAD, json::Context::Argument)?;
        let get = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Fail::check("KEY_INVALID", format!("{}: no {k:?}", path.display())))
        };
        return Ok((
            Issuer::from_secret(&get("issuer_secret")?)?,
            get("signing_secret")?,
        ));
    }
    let (issuer, signing) = (Issuer::generate()?, KeyPair::generate()?.secret());
    let keys = json!({"issuer_secret": issuer.secret(), "signing_secret": signing});
    write_private(&path, &keys.to_string())?;
    let _ = writeln!(
        io.stderr,
        "passgate: demo keys written to {}",
        path.display()
    );
    Ok((issuer, signing))
}

/// The store URL: `--store`, else `PASSGATE_STORE`, else `memory:`.
fn store_url(a: &ServeArgs) -> String {
    a.store
        .clone()
        .or_else(|| env("PASSGATE_STORE"))
        .unwrap_or_else(|| "memory:".into())
}

/// The engine, caller and issuer `a` configures.
pub(super) fn setup(
    a: &ServeArgs,
    io: &mut Io<'_>,
) -> std::result::Result<(Engine, Caller, Option<Issuer>), Fail> {
    let store = store_url(a);
    let mut trusted = a.trust.clone();
    if trusted.is_empty() {
        trusted = env("PASSGATE_TRUSTED_ISSUERS")
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
    }
    let mut issuer = a.issuer_key.as_deref().map(load_issuer).transpose()?;
    let mut signing = env("PASSGATE_SIGNING_SECRET");
    let demo = trusted.is_empty();
    if demo {
        let (demo_issuer, demo_signing) = demo_keys(&store, io)?;
        let _ = writeln!(
            io.stderr,
            "passgate: demo mode, demo issuer {}",
            demo_issuer.did()
        );
        trusted.push(demo_issuer.did().to_string());
        signing = signing.or(Some(demo_signing));
        issuer = Some(demo_issuer);
    }
    let policy_file = a
        .policy
        .clone()
        .or_else(|| env("PASSGATE_POLICY").map(PathBuf::from));
    let policy_doc = match &policy_file {
        Some(p) => json::parse_in(&read_text(p)?, Limits::POLICY, json::Context::Policy)?,
        None => json::parse_in(DEMO_POLICY, Limits::POLICY, json::Context::Policy)?,
    };
    let mut b = Engine::builder()
        .policy_value(policy_doc)
        .trusted_issuers(trusted)
        .store_url(&store);
    if let Some(s) = signing {
        b = b.signing_key(KeyPair::from_secret(&s)?);
    }
    let engine = b.build()?;
    let _ = writeln!(
        io.stderr,
        "passgate: attestations signed by {}",
        engine.signer_did()
    );
    let caller = match a.role.as_str() {
        "operator" => {
            Caller::operator(env("PASSGATE_OPERATOR_NAME").unwrap_or_else(|| "operator".into()))
        }
        _ => {
            let file = a
                .passport_file
                .clone()
                .or_else(|| env("PASSGATE_PASSPORT_FILE").map(PathBuf::from));
            let mut passport = file
                .as_deref()
                .map(|f: &Path| read_text(f).map(|t| t.trim().to_string()))
                .transpose()?;
            if passport.is_none() && demo && a.http.is_none() {
                if let Some(i) = &issuer {
                    let req = PassportRequest::new("demo-agent", DEMO_PERMISSIONS)
                        .with_name("demo agent");
                    passport = Some(i.issue_passport(&req)?.token);
                    let _ = writeln!(
                        io.stderr,
                        "passgate: agent role: a demo passport for \"demo-agent\" (no --passport-file given)"
                    );
                }
            }
            Caller::agent(passport)
        }
    };
    // Only the operator issues passports (over HTTP: an API key with admin:passports).
    let issuer = if caller.role() == Role::Operator || a.http.is_some() {
        issuer
    } else {
        None
    };
    Ok((engine, caller, issuer))
}

pub(super) fn serve(a: &ServeArgs, io: &mut Io<'_>) -> CliResult {
    if let Some(port) = a.http {
        return serve_http(a, port, io);
    }
    let (engine, caller, issuer) = setup(a, io)?;
    let _ = writeln!(
        io.stderr,
        "passgate: MCP ({}) on stdio",
        caller.role().as_str()
    );
    let mut line = String::new();
    loop {
        line.clear();
        let n = io
            .stdin
            .read_line(&mut line)
            .map_err(|e| Fail::io(Path::new("<stdin>"), &e))?;
        if n == 0 {
            break;
        }
        let msg = line.trim();
        if msg.is_empty() {
            continue;
        }
        if let Some(reply) = mcp::handle(&engine, &caller, issuer.as_ref(), msg) {
            writeln!(io.stdout, "{reply}")
                .and_then(|()| io.stdout.flush())
                .map_err(|e| Fail::io(Path::new("<stdout>"), &e))?;
        }
    }
    engine.close();
    Ok(())
}

/// `mcp serve --http PORT`: the gateway, whose callers are who their credentials say.
fn serve_http(a: &ServeArgs, port: u16, io: &mut Io<'_>) -> CliResult {
    let (engine, _, issuer) = setup(a, io)?;
    let mut config = GatewayConfig::from_env();
    if !a.allowed_origin.is_empty() {
        config.allowed_origins = a.allowed_origin.clone();
    }
    config.allow_anonymous |= a.allow_anonymous;
    if let Some(r) = &a.resource {
        config.resource = Some(r.clone());
    }
    if store_url(a).starts_with("memory:") {
        // Nothing persists: the operator cannot have made a key beforehand.
        let all: Vec<Scope> = Scope::ALL.to_vec();
        let key = engine.create_api_key("demo-admin", &all, None)?;
        let _ = writeln!(
            io.stderr,
            "passgate: DEMO ONLY (memory store, gone at exit): an admin API key with every scope:\n\
             passgate:   {}\n\
             passgate: serve a real store with --store URL and make keys with `passgate keys create`",
            key.secret
        );
    }
    let opts = HttpOptions {
        host: a.host.clone(),
        port,
        config,
        timeout: Duration::from_secs(a.timeout),
    };
    super::http::serve_http(engine, issuer, opts, io)
}
