//! Node bindings of passgate: `require('passgate')` / `import { Engine } from 'passgate'`.
//!
//! Thin by design: every rule lives in the core crate. This crate converts JavaScript values to
//! the core's types by hand (no serde round trip, see [`convert`]), builds decisions as plain
//! objects ([`decision`]), maps every core error to a JS `Error` with the core's `.code`
//! ([`error`]), runs `enforceAsync` / `dryRunAsync` on the libuv pool, and exposes the core's MCP
//! catalogue and JSON-RPC handler ([`mcp`]) for `passgate/mcp`.

mod convert;
mod decision;
mod engine;
mod error;
mod events;
mod gateway;
mod issuer;
mod mcp;
mod options;
mod pkce;

use napi::bindgen_prelude::{Env, FromNapiValue, JsObjectValue, JsValue, Object, Unknown};
use napi_derive::napi;

pub use engine::Engine;
pub use gateway::Gateway;
pub use issuer::{IssuedPassport, Issuer};
pub use mcp::{mcp_guard, mcp_handle, mcp_handle_async, mcp_tools};
pub use pkce::{pkce_challenge_s256, pkce_generate_verifier, pkce_verify_s256, AuthorizationFlow};

use convert::Kind;
use error::{invalid, CoreResult, NapiResult, Result};

/// The addon's allocator for its own (Rust) allocations; V8's heap is V8's. As in the Python
/// binding (see its `lib.rs`): a call's `Value` tree and decision are a few dozen small blocks,
/// cheaper under mimalloc than glibc's `malloc` (benches/PROFILE.md, eighth pass).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Verifies one attestation record against the did:key that should have signed it (for an
/// engine's records: `engine.signerDid`). Returns `true`, or throws with `.code`
/// `ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`, `ATTESTATION_KEY` or `ATTESTATION_MALFORMED`.
#[napi(
    ts_args_type = "record: AttestationRecord, did: string",
    ts_return_type = "true"
)]
pub fn verify_attestation(record: Unknown<'_>, did: Unknown<'_>) -> Result<bool> {
    let did = convert::js_string(did, "did")?;
    let record = convert::to_json(record, Kind::Argument, "record")?;
    passgate::verify_attestation(&record, &did).js()?;
    Ok(true)
}

/// Verifies one chain's records, in `seq` order, against the did:key that signed them. Returns
/// `true`, or throws with `.code` `CHAIN_GAP`, `CHAIN_ORDER`, `CHAIN_DUPLICATE`, `CHAIN_MISMATCH`
/// or one of `verifyAttestation`'s codes. Detects any changed byte, a dropped, duplicated or
/// reordered record, and a wrong key. With `head` (from `engine.chainHead()`), records cut from
/// the end of the chain are detected too (`CHAIN_GAP`).
#[napi(
    ts_args_type = "records: AttestationRecord[], did: string, head?: ChainHead",
    ts_return_type = "true"
)]
pub fn verify_chain(
    records: Unknown<'_>,
    did: Unknown<'_>,
    head: Option<Unknown<'_>>,
) -> Result<bool> {
    let did = convert::js_string(did, "did")?;
    let obj = Object::from_unknown(records)
        .map_err(|_| invalid("verifyChain: records must be an array"))?;
    if !obj.is_array().napi()? {
        return Err(invalid("verifyChain: records must be an array"));
    }
    let records = match convert::to_json(records, Kind::Argument, "records")? {
        serde_json::Value::Array(a) => a,
        _ => return Err(invalid("verifyChain: records must be an array")),
    };
    match head {
        Some(h) => {
            let head = convert::to_json(h, Kind::Argument, "head")?;
            passgate::verify_chain_with_head(&records, &did, &head).js()?
        }
        None => passgate::verify_chain(&records, &did).js()?,
    }
    Ok(true)
}

/// Verifies that `record` (an attestation, signed or — with checkpointed signing — not) is in
/// the signed log: its hash and leaf, the signature of `proof.head` (a `checkpoint` record) by
/// `did`, and the RFC 9162 inclusion path `proof.proof` to the head's root. `proof` is what
/// `engine.inclusionProof()` returns (camelCase or snake_case keys). Returns `true` or throws
/// with `.code` `ATTESTATION_PROOF`, `ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`, ...
#[napi(
    ts_args_type = "record: AttestationRecord, proof: InclusionProof, did: string",
    ts_return_type = "true"
)]
pub fn verify_inclusion_proof(
    record: Unknown<'_>,
    proof: Unknown<'_>,
    did: Unknown<'_>,
) -> Result<bool> {
    let did = convert::js_string(did, "did")?;
    let record = convert::to_json(record, Kind::Argument, "record")?;
    let mut proof = convert::to_json(proof, Kind::Argument, "proof")?;
    if let serde_json::Value::Object(m) = &mut proof {
        for (camel, snake) in [
            ("leafIndex", "leaf_index"),
            ("leafHash", "leaf_hash"),
            ("treeSize", "tree_size"),
        ] {
            if let Some(v) = m.remove(camel) {
                m.insert(snake.into(), v);
            }
        }
    }
    passgate::verify_inclusion_proof(&record, &proof, &did).js()?;
    Ok(true)
}

fn tagged(v: &str, name: &str) -> Result<passgate::merkle::Hash> {
    passgate::merkle::from_tagged(v)
        .ok_or_else(|| invalid(format!("{name} must be \"sha256:<64 hex>\"")))
}

fn tagged_list(v: &[String], name: &str) -> Result<Vec<passgate::merkle::Hash>> {
    v.iter().map(|h| tagged(h, name)).collect()
}

fn size(v: f64, name: &str) -> Result<u64> {
    if v.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&v) {
        return Err(invalid(format!(
            "{name} must be a non-negative safe integer"
        )));
    }
    Ok(v as u64)
}

/// RFC 9162 §2.1.3.2: whether `proof` (`['sha256:<hex>', ...]`) proves that `leafHash` is leaf
/// `index` of the tree of `treeSize` leaves whose root is `root`. `false` (never a throw) for an
/// index outside the tree or a proof of the wrong length; throws `INVALID_ARGUMENT` only for
/// arguments that are not hashes or integers.
#[napi]
pub fn verify_inclusion(
    leaf_hash: String,
    index: f64,
    tree_size: f64,
    proof: Vec<String>,
    root: String,
) -> Result<bool> {
    Ok(passgate::merkle::verify_inclusion(
        &tagged(&leaf_hash, "leafHash")?,
        size(index, "index")?,
        size(tree_size, "treeSize")?,
        &tagged_list(&proof, "proof")?,
        &tagged(&root, "root")?,
    ))
}

/// RFC 9162 §2.1.4.2: whether `proof` proves that the tree of `newSize` leaves with root
/// `newRoot` extends the tree of `oldSize` leaves with root `oldRoot`. `false` (never a throw)
/// for sizes out of order, `oldSize` 0 or a proof of the wrong length.
#[napi]
pub fn verify_consistency(
    old_size: f64,
    new_size: f64,
    old_root: String,
    new_root: String,
    proof: Vec<String>,
) -> Result<bool> {
    Ok(passgate::merkle::verify_consistency(
        size(old_size, "oldSize")?,
        size(new_size, "newSize")?,
        &tagged(&old_root, "oldRoot")?,
        &tagged(&new_root, "newRoot")?,
        &tagged_list(&proof, "proof")?,
    ))
}

/// Every built-in constraint type with the JSON Schema of its parameters.
#[napi(ts_return_type = "ConstraintTypeInfo[]")]
pub fn constraint_types(env: &Env) -> Result<Unknown<'_>> {
    convert::to_js(env, &passgate::constraint_types())
}

/// The built-in templates: name, description, parameters and constraints.
#[napi(ts_return_type = "TemplateInfo[]")]
pub fn templates(env: &Env) -> Result<Unknown<'_>> {
    convert::to_js(env, &passgate::templates())
}

/// Every error code passgate throws with (`err.code`).
#[napi(ts_return_type = "ErrorCode[]")]
pub fn error_codes() -> Vec<&'static str> {
    passgate::Error::CODES.to_vec()
}

/// Each error code's family: the name of the error class passgate.js gives it (`PolicyError`,
/// `PassportError`, `InputError`, `IdempotencyConflictError`, `StoreError`,
/// `AttestationError`), or `null` for the base class `PassgateError` (`INTERNAL`). From the
/// core's `Family`: the one source of both bindings' classes.
#[napi(ts_return_type = "Record<ErrorCode, ErrorClassName | null>")]
pub fn error_families(env: &Env) -> Result<Object<'_>> {
    let mut o = Object::new(env).napi()?;
    for code in passgate::Error::CODES {
        o.set_named_property(code, passgate::Family::of(code).class_name())
            .napi()?;
    }
    Ok(o)
}

/// Every code a decision's failed check carries besides the error codes (`PERMISSION_DENIED`,
/// `APPROVAL_*`, …), from the core's `CheckCode`.
#[napi(ts_return_type = "CheckCode[]")]
pub fn check_codes() -> Vec<&'static str> {
    passgate::CheckCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}

/// Every operation of the core's one JSON entry point (`engine.call(op, args)`), by its
/// snake_case name. passgate.js gives each a camelCase method on `Engine`.
/// Runs the `passgate` command line with `args` (without the program name) on the process's
/// standard streams; returns the exit code (`bin/passgate.js`).
#[napi]
pub fn cli_main(args: Vec<String>) -> i32 {
    passgate::cli::main(args)
}

/// A proof of possession `{nonce, ts, sig}` of the agent's key for a request to `gate` with
/// `payload` (`enforce({..., pop})`): `agentKey` is the agent's `IssuedPassport` or its secret;
/// the request hash is computed by the core's own code. `catalogHash` is the content hash of the
/// passport's catalog pin for the gate; `nonce` defaults to a fresh random one, `ts` to now.
#[napi(
    ts_args_type = "options: { agentKey: IssuedPassport | string; gate: string; payload?: Payload | null; catalogHash?: string | null; nonce?: string | null; ts?: number | null }",
    ts_return_type = "{ nonce: string; ts: number; sig: string }"
)]
pub fn make_pop<'e>(env: &'e Env, options: Unknown<'_>) -> Result<Unknown<'e>> {
    let build = || -> Result<serde_json::Value> {
        let o = options::Options::read(
            Some(options),
            "makePop",
            &["agentKey", "gate", "payload", "catalogHash", "nonce", "ts"],
        )?;
        let key = match o.get("agentKey") {
            Some(v) => options::agent_key(v)?,
            None => return Err(error::argument("/agentKey", "agentKey is required")),
        };
        let gate = o.req_str("gate")?;
        let payload = o
            .json("payload", convert::Kind::Payload)?
            .unwrap_or(serde_json::Value::Null);
        let req = passgate::Request::new(gate, payload);
        let pop = passgate::pop::sign(
            &key,
            &req,
            o.str("catalogHash")?.as_deref(),
            o.str("nonce")?,
            o.int("ts")?,
        )
        .map_err(error::core)?;
        Ok(pop.to_value())
    };
    let v = build().map_err(|e| error::raise(env, e))?;
    convert::to_js(env, &v)
}

#[napi]
pub fn operations() -> Vec<&'static str> {
    passgate::ops::NAMES.to_vec()
}

/// Every operation as the core describes it: `{name, description, effect, input_schema,
/// output_schema}` (the JSON Schemas of its snake_case arguments and of its result).
#[napi(
    ts_return_type = "Array<{ name: string; description: string; effect: 'reads' | 'adds' | 'removes'; input_schema: JsonObject; output_schema: JsonObject | null }>"
)]
pub fn describe_operations(env: &Env) -> Result<Unknown<'_>> {
    convert::to_js(env, &passgate::ops::describe())
}

/// Benchmark hooks: the two ways a payload can cross into Rust, measured alone.
#[cfg(feature = "bench-internals")]
pub mod bench {
    use napi::bindgen_prelude::Unknown;
    use napi_derive::napi;

    use crate::convert::{self, Kind};
    use crate::error::{CoreResult, Result};

    /// Walks a JS payload into JSON (what `enforce` does); returns the number of top-level keys.
    #[napi]
    pub fn bench_walk(payload: Unknown<'_>) -> Result<u32> {
        let v = convert::to_json(payload, Kind::Payload, "payload")?;
        Ok(v.as_object()
            .map_or(0, |m| u32::try_from(m.len()).unwrap_or(0)))
    }

    /// Times `n` core dry runs of `request` inside the addon (no conversion): µs per call.
    #[napi]
    pub fn bench_core_dry_run(engine: &crate::Engine, request: Unknown<'_>, n: u32) -> Result<f64> {
        let v = convert::to_json(request, Kind::Argument, "request")?;
        let req = passgate::seam::request(&v).js()?;
        let t = std::time::Instant::now();
        for _ in 0..n {
            engine.inner.dry_run(&req).js()?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1)))
    }

    /// One core dry run of `request`, returned as JSON text (for `JSON.parse` in JS).
    #[napi]
    pub fn bench_dry_run_text(engine: &crate::Engine, request: Unknown<'_>) -> Result<String> {
        let v = convert::to_json(request, Kind::Argument, "request")?;
        let req = passgate::seam::request(&v).js()?;
        let d = engine.inner.dry_run(&req).js()?;
        serde_json::to_string(&d).map_err(|e| crate::error::invalid(e.to_string()))
    }

    /// Reads a request as `dryRun` does (options, passport, payload — as JSON text when
    /// `payloadJson` is given, else walked) and drops it: the way in, alone.
    #[napi]
    pub fn bench_read_request(
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<u32> {
        let r = crate::engine::read_request(request, "dryRun", payload_json)?;
        Ok(u32::from(r.payload.is_object()))
    }

    /// One decision of `request` (a dry run), held in Rust so that the way back is measured
    /// alone: `text()` / `parts()` serialise it as `dryRunText` / `dryRunParts` do.
    #[napi]
    pub struct BenchDecision {
        inner: passgate::Decision,
    }

    #[napi]
    impl BenchDecision {
        /// Dry-runs (`enforce: false`) or enforces `request` once and keeps the decision.
        #[napi(factory)]
        pub fn of(engine: &crate::Engine, request: Unknown<'_>, enforce: bool) -> Result<Self> {
            let r = crate::engine::read_request(request, "dryRun", None)?;
            let d = if enforce {
                engine.inner.enforce(&r)
            } else {
                engine.inner.dry_run(&r)
            };
            Ok(BenchDecision { inner: d.js()? })
        }

        /// The decision as one JSON object (`dryRunText`).
        #[napi]
        pub fn text(&self) -> Result<String> {
            crate::decision::to_text(&self.inner)
        }

        /// The decision in two parts (`dryRunParts`).
        #[napi]
        pub fn parts(&self) -> Result<String> {
            crate::decision::to_parts(&self.inner)
        }
    }

    /// Parses `JSON.stringify` output with plain `serde_json` (it cannot hold duplicate keys) and
    /// bounds it like the core.
    #[napi]
    pub fn bench_parse_serde(text: String) -> Result<u32> {
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| crate::error::invalid(e.to_string()))?;
        passgate::__private::json::check_bounds(&v, passgate::__private::json::Limits::PAYLOAD)
            .map_err(|e| crate::error::invalid(e.to_string()))?;
        Ok(v.as_object()
            .map_or(0, |m| u32::try_from(m.len()).unwrap_or(0)))
    }

    /// Parses a JSON text with the core's strict parser (the `JSON.stringify` route).
    #[napi]
    pub fn bench_parse(text: String) -> Result<u32> {
        let v = passgate::seam::parse(&text, passgate::__private::json::Context::Payload).js()?;
        Ok(v.as_object()
            .map_or(0, |m| u32::try_from(m.len()).unwrap_or(0)))
    }
}
