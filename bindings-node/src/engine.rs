//! The engine: `enforce` / `dryRun` (sync, and as Promises on the libuv pool), passports, state,
//! attestations, policies.

use std::sync::Arc;

use napi::bindgen_prelude::{
    AsyncTask, Env, FromNapiValue, JsObjectValue, JsValue, Null, Object, ToNapiValue, Unknown,
};
use napi::ScopedTask;
use napi_derive::napi;
use passgate::store::{CounterState, WindowKind};
use passgate::{AttestationFilter, CounterFilter, Decision, Request};
use serde_json::{json, Map, Value};

use crate::convert::{self, Kind};
use crate::decision;
use crate::error::{self, invalid, CoreResult, NapiResult, Result};
use crate::issuer::IssuedPassport;
use crate::options::{self, Options};

const ENGINE_OPTIONS: &[&str] = &[
    "policy",
    "trustedIssuers",
    "signingKey",
    "store",
    "leewaySecs",
];

const REQUEST_OPTIONS: &[&str] = &[
    "gate",
    "passport",
    "payload",
    "idempotencyKey",
    "trace",
    "hold",
    "approval",
    "client",
];

/// The authorization engine: verifies passports, evaluates gates, counts in its store, signs an
/// attestation of every decision. One engine serves any number of concurrent calls.
///
/// ```js
/// const engine = new Engine({ policy, trustedIssuers: [issuer.did] })
/// const d = engine.enforce({ gate: 'payments.send', passport: p.token, payload: { amount: 400 } })
/// ```
#[napi]
pub struct Engine {
    pub(crate) inner: Arc<passgate::Engine>,
}

/// One question, as read from JavaScript on the calling thread.
pub enum Call {
    /// Straight to `Engine::enforce` / `dry_run`.
    Direct(Request),
}

/// What a [`Call`] answered.
pub enum Outcome {
    /// A core decision.
    Decision(Decision),
}

impl Call {
    /// Reads a request. `payload_text`, when given, is the payload as JSON text (the JS layer's
    /// fast path: `JSON.stringify` of a payload it has checked to be plain data); it is parsed
    /// by the core's strict parser and `request.payload` is not read.
    fn read(
        request: Unknown<'_>,
        what: &'static str,
        payload_text: Option<String>,
    ) -> Result<Call> {
        let o = Options::read(Some(request), what, REQUEST_OPTIONS)?;
        let gate = o.req_str("gate")?;
        let passport = o.token("passport")?;
        let payload = match payload_text {
            Some(text) => {
                passgate::seam::parse(&text, passgate::__private::json::Context::Payload).js()?
            }
            None => o.json("payload", Kind::Payload)?.unwrap_or(Value::Null),
        };
        let idempotency_key = o.str("idempotencyKey")?;
        let trace = o.json("trace", Kind::Argument)?;
        let client = o.str("client")?;
        let hold = o.bool("hold")?.unwrap_or(false);
        let approval = o.str("approval")?;
        Ok(Call::Direct(Request {
            gate,
            passport,
            payload,
            idempotency_key,
            trace,
            client,
            hold,
            approval,
        }))
    }

    fn run(self, engine: &passgate::Engine, dry_run: bool) -> passgate::Result<Outcome> {
        match (self, dry_run) {
            (Call::Direct(r), false) => engine.enforce(&r).map(Outcome::Decision),
            (Call::Direct(r), true) => engine.dry_run(&r).map(Outcome::Decision),
        }
    }
}

impl Outcome {
    fn to_js<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        match self {
            Outcome::Decision(d) => decision::to_js(env, d),
        }
    }

    fn to_text(&self) -> Result<String> {
        match self {
            Outcome::Decision(d) => decision::to_text(d),
        }
    }

    /// The decision as an object, or as JSON text when the JS layer asked for it.
    fn to_unknown<'e>(&self, env: &'e Env, as_text: bool) -> Result<Unknown<'e>> {
        if as_text {
            self.to_text()?.into_unknown(env).napi()
        } else {
            Ok(self.to_js(env)?.to_unknown())
        }
    }
}

/// `enforceAsync` / `dryRunAsync`: the evaluation (and any store I/O) runs on the libuv pool.
pub struct Decide {
    engine: Arc<passgate::Engine>,
    /// The request, or why it could not be read (the promise rejects with it).
    call: Option<Result<Call>>,
    dry_run: bool,
    as_text: bool,
}

/// What an async task computed: an outcome, or the error to reject with.
pub type Computed = Result<Outcome>;

impl Decide {
    /// A task for `request`. Argument errors reject the promise, as a Promise API should; only a
    /// JavaScript exception raised while reading the request (a throwing getter) is thrown at
    /// once, because it is already pending.
    fn new(
        engine: &Arc<passgate::Engine>,
        request: Unknown<'_>,
        payload_text: Option<String>,
        as_text: Option<bool>,
        what: &'static str,
        dry_run: bool,
    ) -> Result<AsyncTask<Decide>> {
        let call = match Call::read(request, what, payload_text) {
            Err(e) if e.status.js_exception => return Err(e),
            other => other,
        };
        Ok(AsyncTask::new(Decide {
            engine: engine.clone(),
            call: Some(call),
            dry_run,
            as_text: as_text.unwrap_or(false),
        }))
    }
}

impl<'t> ScopedTask<'t> for Decide {
    type Output = Computed;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> napi::Result<Computed> {
        Ok(match self.call.take() {
            Some(Ok(call)) => call.run(&self.engine, self.dry_run).js(),
            Some(Err(e)) => Err(e),
            None => Err(error::core(passgate::Error::Internal(
                "task ran twice".into(),
            ))),
        })
    }

    fn resolve(&mut self, env: &'t Env, output: Computed) -> napi::Result<Unknown<'t>> {
        output
            .and_then(|o| o.to_unknown(env, self.as_text))
            .map_err(|e| error::to_status_error(env, e))
    }
}

#[napi]
impl Engine {
    /// A new engine. `policy` is a policy object, a JSON string or a path to a JSON file;
    /// `trustedIssuers` lists issuer did:keys (or `Issuer`s); `signingKey` (an `Issuer` or its
    /// secret) signs attestations — a fresh key when absent, see `signerDid`; `store` is a store
    /// URL (`memory:`, the default).
    #[napi(constructor, ts_args_type = "options?: EngineOptions")]
    pub fn new(options: Option<Unknown<'_>>) -> Result<Self> {
        let o = Options::read(options, "Engine", ENGINE_OPTIONS)?;
        let mut b = passgate::Engine::builder();
        if let Some(p) = o.get("policy") {
            b = b.policy(load_policy(p)?);
        }
        if let Some(t) = o.get("trustedIssuers") {
            b = b.trusted_issuers(options::dids(t)?);
        }
        if let Some(k) = o.get("signingKey") {
            b = b.signing_key(options::issuer(k)?.key().clone());
        }
        if let Some(url) = o.str("store")? {
            b = b.store_url(&url);
        }
        if let Some(l) = o.int("leewaySecs")? {
            b = b.leeway_secs(l);
        }
        Ok(Engine {
            inner: Arc::new(b.build().js()?),
        })
    }

    /// The did:key this engine signs attestations with (pass it to `verifyChain`).
    #[napi(getter)]
    pub fn signer_did(&self) -> String {
        self.inner.signer_did().to_string()
    }

    /// One page of the attestation records (every chain), oldest first: `filter` as for
    /// `attestations` (its `limit` ignored), at most `page.limit` (1–10,000, default 100) records
    /// from `page.cursor` (absent: the first page). Returns `{records, nextCursor}`; pass
    /// `nextCursor` back for the next page (`null` after the last).
    #[napi(
        ts_args_type = "filter?: AttestationFilter | null, page?: { cursor?: string | null; limit?: number }",
        ts_return_type = "{ records: AttestationRecord[]; nextCursor: string | null }"
    )]
    pub fn attestations_page<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
        page: Option<AttestationPage>,
    ) -> Result<Unknown<'e>> {
        let f = attestation_filter(filter)?;
        let (cursor, limit) = page.map_or((None, None), |p| (page_cursor(p.cursor), p.limit));
        let limit = limit.map_or(Ok(100), |l| {
            usize::try_from(l)
                .map_err(|_| invalid("attestationsPage: limit must be a positive integer"))
        })?;
        let (records, next) = self
            .inner
            .attestations_page(&f, cursor.as_deref(), limit)
            .js()?;
        convert::to_js(
            env,
            &serde_json::json!({ "records": records, "nextCursor": next }),
        )
    }

    /// Verifies every chain of the store, each against its own signer, which must be one of
    /// `trustedSigners` (did:key): after restarts, each engine without a configured signing key
    /// wrote a chain with a new key. Returns `{records, chains: [{chain, signer, records,
    /// first_seq, last_seq}]}`; throws (`ATTESTATION_*`, `CHAIN_*`) on the first record that does
    /// not verify or a chain signed by an untrusted key.
    #[napi(
        ts_return_type = "{ records: number; chains: Array<{ chain: string; signer: string; records: number; first_seq: number; last_seq: number }> }"
    )]
    pub fn verify_store<'e>(
        &self,
        env: &'e Env,
        trusted_signers: Vec<String>,
    ) -> Result<Unknown<'e>> {
        let v = self.inner.verify_store(&trusted_signers).js()?;
        convert::to_js(env, &v)
    }

    /// Closes the engine's store now (SQLite connections and file handles) instead of when the
    /// garbage collector frees the engine: every later call that touches the store throws
    /// `STORE_UNAVAILABLE`. Closing twice is harmless.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    /// This engine's attestation chain id.
    #[napi(getter)]
    pub fn chain_id(&self) -> String {
        self.inner.chain_id()
    }

    // `enforce`, `dryRun` and their async forms take two more, untyped arguments, for
    // passgate.js's faster routes (benches/node/conversion.mjs): the payload as `JSON.stringify`
    // text (passed only for payloads it has checked to be plain JSON data; anything else takes
    // the walk in `convert`, which has the final word), and `true` to get the decision back as
    // JSON text, which `JSON.parse` turns into objects faster than napi builds them.

    /// Decides a request, counts it if admitted, and signs the decision. Throws only for malformed
    /// arguments, oversized input, `IDEMPOTENCY_CONFLICT` and store failures: a bad passport, an
    /// unknown gate or a failed constraint is a `deny` decision that says why.
    #[napi(ts_args_type = "request: EnforceRequest", ts_return_type = "Decision")]
    pub fn enforce<'e>(
        &self,
        env: &'e Env,
        request: Unknown<'_>,
        payload_text: Option<String>,
        as_text: Option<bool>,
    ) -> Result<Unknown<'e>> {
        Call::read(request, "enforce", payload_text)?
            .run(&self.inner, false)
            .js()?
            .to_unknown(env, as_text.unwrap_or(false))
    }

    /// The same evaluation against the same state as `enforce`, changing nothing: no counter, no
    /// attestation, no idempotency key. The decision has `dryRun: true`.
    #[napi(ts_args_type = "request: EnforceRequest", ts_return_type = "Decision")]
    pub fn dry_run<'e>(
        &self,
        env: &'e Env,
        request: Unknown<'_>,
        payload_text: Option<String>,
        as_text: Option<bool>,
    ) -> Result<Unknown<'e>> {
        Call::read(request, "dryRun", payload_text)?
            .run(&self.inner, true)
            .js()?
            .to_unknown(env, as_text.unwrap_or(false))
    }

    /// `enforce` on the libuv thread pool: the event loop is free while the store works. Every
    /// error rejects the promise (with `.code`).
    #[napi(
        ts_args_type = "request: EnforceRequest",
        ts_return_type = "Promise<Decision>"
    )]
    pub fn enforce_async(
        &self,
        request: Unknown<'_>,
        payload_text: Option<String>,
        as_text: Option<bool>,
    ) -> Result<AsyncTask<Decide>> {
        Decide::new(
            &self.inner,
            request,
            payload_text,
            as_text,
            "enforceAsync",
            false,
        )
    }

    /// `dryRun` on the libuv thread pool.
    #[napi(
        ts_args_type = "request: EnforceRequest",
        ts_return_type = "Promise<Decision>"
    )]
    pub fn dry_run_async(
        &self,
        request: Unknown<'_>,
        payload_text: Option<String>,
        as_text: Option<bool>,
    ) -> Result<AsyncTask<Decide>> {
        Decide::new(
            &self.inner,
            request,
            payload_text,
            as_text,
            "dryRunAsync",
            true,
        )
    }

    /// Verifies a passport (signature, times, issuer, delegation chain, revocation) and returns
    /// its claims. Throws with the reason's code (`PASSPORT_EXPIRED`, `ISSUER_UNTRUSTED`, …).
    #[napi(
        ts_args_type = "passport: string | IssuedPassport",
        ts_return_type = "PassportClaims"
    )]
    pub fn verify_passport<'e>(&self, env: &'e Env, passport: Unknown<'_>) -> Result<Unknown<'e>> {
        let token = options::token(passport).ok_or_else(|| {
            invalid("verifyPassport: expected a token string or an IssuedPassport")
        })?;
        convert::to_js(env, &self.inner.verify_passport(&token).js()?)
    }

    /// A signed statement of where this engine's chain ends now (`{body: {kind: 'chain.head',
    /// chain, seq, hash, time}, hash, sig, kid}`). Keep a recent one: `verifyChain(records, did,
    /// head)` then detects records cut from the chain's end.
    #[napi(ts_return_type = "ChainHead")]
    pub fn chain_head<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        convert::to_js(env, &self.inner.chain_head().js()?)
    }

    /// Revokes a passport id and, with it, every passport delegated from it. Writes an
    /// attestation of kind `revocation`.
    #[napi]
    pub fn revoke_passport(&self, passport_id: String) -> Result<()> {
        self.inner.revoke_passport(&passport_id).js()
    }

    /// Issues a new passport for the agent of `passport` (same permissions, name, caveats; a fresh
    /// agent key), signed by `issuer` (an `Issuer` or its secret), and revokes the old one.
    #[napi(
        ts_args_type = "passport: string | IssuedPassport, issuer: Issuer | string, expiresInDays?: number"
    )]
    pub fn reissue(
        &self,
        passport: Unknown<'_>,
        issuer: Unknown<'_>,
        expires_in_days: Option<Unknown<'_>>,
    ) -> Result<IssuedPassport> {
        let token = options::token(passport)
            .ok_or_else(|| invalid("reissue: expected a token string or an IssuedPassport"))?;
        let issuer = options::issuer(issuer)?;
        let secs = match expires_in_days {
            None => None,
            Some(d) => match d.get_type().napi()? {
                napi::ValueType::Undefined | napi::ValueType::Null => None,
                _ => Some(
                    options::integer(d)
                        .and_then(|d| d.checked_mul(86_400))
                        .ok_or_else(|| invalid("reissue: expiresInDays must be an integer"))?,
                ),
            },
        };
        Ok(IssuedPassport {
            inner: self.inner.reissue(&token, &issuer, secs).js()?,
        })
    }

    /// The counters matching `filter` (`{gate, agentId, constraint, scope, namespace}`), with
    /// their current usage.
    #[napi(
        ts_args_type = "filter?: CounterFilter",
        ts_return_type = "CounterState[]"
    )]
    pub fn cumulative_state<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let mut counters = Vec::new();
        for f in counter_filters(&self.inner, filter, "cumulativeState")? {
            counters.extend(self.inner.cumulative_state(&f).js()?);
        }
        let mut arr = convert::array(env, counters.len())?;
        for (i, c) in counters.iter().enumerate() {
            arr.set(u32::try_from(i).unwrap_or(u32::MAX), counter_to_js(env, c)?)
                .napi()?;
        }
        Ok(arr.to_unknown())
    }

    /// One page of the counters matching `filter` (as for `cumulativeState`), in a stable
    /// order: at most `page.limit` (1–10,000, default 100) counters from `page.cursor` (absent:
    /// the first page). Returns `{counters, nextCursor}`; pass `nextCursor` back for the next
    /// page (`null` after the last; a page may be short and still have one). A cursor no page
    /// returned throws `INVALID_ARGUMENT`.
    #[napi(
        ts_args_type = "filter?: CounterFilter | null, page?: { cursor?: string | null; limit?: number }",
        ts_return_type = "{ counters: CounterState[]; nextCursor: string | null }"
    )]
    pub fn cumulative_state_page<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
        page: Option<CounterPage>,
    ) -> Result<Unknown<'e>> {
        let filters = counter_filters(&self.inner, filter, "cumulativeStatePage")?;
        let (cursor, limit) = page.map_or((None, None), |p| (page_cursor(p.cursor), p.limit));
        let limit = limit.map_or(Ok(100), |l| {
            usize::try_from(l)
                .map_err(|_| invalid("cumulativeStatePage: limit must be a positive integer"))
        })?;
        let (counters, next) = self
            .inner
            .cumulative_state_page_of(&filters, cursor.as_deref(), limit)
            .js()?;
        let mut arr = convert::array(env, counters.len())?;
        for (i, c) in counters.iter().enumerate() {
            arr.set(u32::try_from(i).unwrap_or(u32::MAX), counter_to_js(env, c)?)
                .napi()?;
        }
        let mut out = Object::new(env).napi()?;
        out.set_named_property("counters", arr).napi()?;
        match next {
            Some(n) => out.set_named_property("nextCursor", n.as_str()),
            None => out.set_named_property("nextCursor", Null),
        }
        .napi()?;
        Ok(out.to_unknown())
    }

    /// Deletes the counters matching `filter` (all of them without one), records that it did,
    /// and returns how many were deleted.
    #[napi(ts_args_type = "filter?: CounterFilter")]
    pub fn reset_cumulative_state(&self, filter: Option<Unknown<'_>>) -> Result<u32> {
        let mut n = 0;
        for f in counter_filters(&self.inner, filter, "resetCumulativeState")? {
            n += self.inner.reset_cumulative_state(&f).js()?;
        }
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The attestation records in this engine's store (every chain), oldest first, filtered by
    /// `{chain, gate, agentId, decision, evaluationId, kind, since, until, limit}` (times in epoch
    /// milliseconds). Records are returned exactly as signed.
    #[napi(
        ts_args_type = "filter?: AttestationFilter",
        ts_return_type = "AttestationRecord[]"
    )]
    pub fn attestations<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let f = attestation_filter(filter)?;
        let records = self.inner.attestations(&f).js()?;
        let mut arr = convert::array(env, records.len())?;
        for (i, r) in records.iter().enumerate() {
            arr.set(
                u32::try_from(i).unwrap_or(u32::MAX),
                convert::to_js(env, r)?,
            )
            .napi()?;
        }
        Ok(arr.to_unknown())
    }

    /// Appends a host event (`kind`, any JSON `data`) to this engine's chain; returns the record.
    #[napi(
        ts_args_type = "kind: string, data?: JsonValue",
        ts_return_type = "AttestationRecord"
    )]
    pub fn record_attestation<'e>(
        &self,
        env: &'e Env,
        kind: String,
        data: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let data = match data {
            Some(d) => optional_json(d, Kind::Argument, "data")?.unwrap_or(Value::Null),
            None => Value::Null,
        };
        convert::to_js(env, &self.inner.record_attestation(&kind, &data).js()?)
    }

    /// Replaces the policy (an object, a JSON string or a path) atomically; counters and chains
    /// live on. Returns the new policy hash.
    #[napi(ts_args_type = "policy: PolicyDocument | string")]
    pub fn set_policy(&self, policy: Unknown<'_>) -> Result<String> {
        let p = load_policy(policy)?;
        let hash = p.hash.clone();
        self.inner.set_policy(p).js()?;
        Ok(hash)
    }

    /// The gates of the current policy, by name: `{name, description, require, mode,
    /// constraints, …}` as the policy compiled them.
    #[napi(ts_return_type = "GateInfo[]")]
    pub fn list_gates<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let v = passgate::seam::call(&self.inner, "list_gates", &json!({})).js()?;
        convert::to_js(env, &unwrap_single(v, "gates"))
    }

    /// One gate of the current policy; throws `GATE_UNKNOWN` if the policy does not define it.
    #[napi(ts_return_type = "GateInfo")]
    pub fn get_gate<'e>(&self, env: &'e Env, name: String) -> Result<Unknown<'e>> {
        let v = passgate::seam::call(&self.inner, "get_gate", &json!({ "gate": name })).js()?;
        convert::to_js(env, &v)
    }

    // ---- Holds and approvals (core issue 3): thin calls into the JSON seam. Until the core
    // ---- ships them these throw INVALID_ARGUMENT ("unknown operation").

    /// Settles a hold: `actual` is a payload of the request's shape holding the real amounts
    /// (`{amount: 42}`); without it the reserved amounts are kept.
    #[napi(
        ts_args_type = "holdId: string, actual?: JsonObject",
        ts_return_type = "JsonObject"
    )]
    pub fn settle<'e>(
        &self,
        env: &'e Env,
        hold_id: String,
        actual: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let mut args = Map::new();
        args.insert("hold_id".into(), json!(hold_id));
        if let Some(a) = actual
            .map(|a| optional_json(a, Kind::Payload, "actual"))
            .transpose()?
            .flatten()
        {
            args.insert("actual".into(), a);
        }
        self.seam(env, "settle", &Value::Object(args))
    }

    /// Releases a hold: the counters give the reservation back.
    #[napi(ts_return_type = "JsonObject")]
    pub fn release<'e>(&self, env: &'e Env, hold_id: String) -> Result<Unknown<'e>> {
        self.seam(env, "release", &json!({ "hold_id": hold_id }))
    }

    /// Expires at most `limit` holds past their TTL (all that are due without it), settling each
    /// at its reserved amounts (only `concurrency` slots are freed); returns how many it expired.
    /// `enforce` expires at most 64 per call, once a second: call this from a timer (a background
    /// sweeper) when holds may go unsettled. A stored hold that cannot be read is skipped and never
    /// stalls the sweep.
    #[napi(ts_args_type = "limit?: number")]
    pub fn expire_holds(&self, limit: Option<Unknown<'_>>) -> Result<u32> {
        let limit = match limit {
            None => Value::Null,
            Some(l) => match l.get_type().napi()? {
                napi::ValueType::Undefined | napi::ValueType::Null => Value::Null,
                _ => json!(options::integer(l)
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("expireHolds: limit must be a non-negative integer"))?),
            },
        };
        let v =
            passgate::seam::call(&self.inner, "expire_holds", &json!({ "limit": limit })).js()?;
        let n = v.get("expired").and_then(Value::as_u64).unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Prunes at most `limit` attestation records due under the store's retention (all that are
    /// due without it), each chain's behind a checkpoint this engine signs, exporting them first
    /// to the store URL's `retention_export` file if set; also drops closed holds and approvals
    /// that can no longer matter. Returns how many records it pruned. SQLite and Redis stores are
    /// pruned only by this call: call it from a timer (like `expireHolds`).
    #[napi(ts_args_type = "limit?: number")]
    pub fn prune(&self, limit: Option<Unknown<'_>>) -> Result<u32> {
        let limit = match limit {
            None => Value::Null,
            Some(l) => match l.get_type().napi()? {
                napi::ValueType::Undefined | napi::ValueType::Null => Value::Null,
                _ => json!(options::integer(l)
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("prune: limit must be a non-negative integer"))?),
            },
        };
        let v = passgate::seam::call(&self.inner, "prune", &json!({ "limit": limit })).js()?;
        let n = v.get("pruned").and_then(Value::as_u64).unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Writes the store's attestation records to the file `path` as JSONL (one record per line
    /// exactly as stored, each chain oldest first; `since`: epoch ms), with a chain's checkpoint
    /// line before its first record when that record follows one, so the file verifies offline.
    /// Returns the number of records written.
    #[napi(ts_args_type = "path: string, options?: { since?: number | null }")]
    pub fn export_attestations(&self, path: String, options: Option<ExportOptions>) -> Result<i64> {
        let since = options.and_then(|o| o.since);
        let v = passgate::seam::call(
            &self.inner,
            "export_attestations",
            &json!({ "path": path, "since": since }),
        )
        .js()?;
        Ok(v.get("exported").and_then(Value::as_i64).unwrap_or(0))
    }

    /// Verifies an export file (from `exportAttestations` or a `retention_export` sink) followed
    /// by what this store still holds: every record's hash and signature (signers among
    /// `trustedSigners`), each chain continuous from seq 1 or a trusted checkpoint. Returns
    /// `{records, duplicates, chains}`; throws (`ATTESTATION_*`, `CHAIN_*`) otherwise.
    #[napi(
        ts_return_type = "{ records: number; duplicates: number; chains: Array<{ chain: string; signer: string; records: number; first_seq: number; last_seq: number }> }"
    )]
    pub fn verify_export<'e>(
        &self,
        env: &'e Env,
        path: String,
        trusted_signers: Vec<String>,
    ) -> Result<Unknown<'e>> {
        let v = passgate::seam::call(
            &self.inner,
            "verify_export",
            &json!({ "path": path, "trusted_signers": trusted_signers }),
        )
        .js()?;
        convert::to_js(env, &v)
    }

    /// Approves the escalated evaluation `evaluationId` as `approver`; returns the approval token
    /// the agent retries with (it admits exactly that request, once, before `ttl`).
    #[napi(ts_args_type = "evaluationId: string, approver: string, ttl?: string")]
    pub fn approve(
        &self,
        evaluation_id: String,
        approver: String,
        ttl: Option<String>,
    ) -> Result<String> {
        let mut args = Map::new();
        args.insert("evaluation_id".into(), json!(evaluation_id));
        args.insert("approver".into(), json!(approver));
        if let Some(t) = ttl {
            args.insert("ttl".into(), json!(t));
        }
        let args = Value::Object(args);
        let v = passgate::seam::call(&self.inner, "approve", &args).js()?;
        match v {
            Value::String(s) => Ok(s),
            Value::Object(mut m) => match m.remove("approval") {
                Some(Value::String(s)) => Ok(s),
                _ => Err(invalid("approve: the core returned no token")),
            },
            _ => Err(invalid("approve: the core returned no token")),
        }
    }

    /// Denies the escalated evaluation `evaluationId`, recording who and why.
    #[napi(ts_return_type = "JsonObject")]
    pub fn deny_approval<'e>(
        &self,
        env: &'e Env,
        evaluation_id: String,
        approver: String,
        reason: String,
    ) -> Result<Unknown<'e>> {
        let args =
            json!({ "evaluation_id": evaluation_id, "approver": approver, "reason": reason });
        self.seam(env, "deny_approval", &args)
    }

    /// The gates `passport` may call under the current policy.
    #[napi(
        ts_args_type = "passport: string | IssuedPassport",
        ts_return_type = "string[]"
    )]
    pub fn allowed_gates<'e>(&self, env: &'e Env, passport: Unknown<'_>) -> Result<Unknown<'e>> {
        let token = options::token(passport)
            .ok_or_else(|| invalid("allowedGates: expected a token string or an IssuedPassport"))?;
        let v = passgate::seam::call(&self.inner, "allowed_gates", &json!({ "passport": token }))
            .js()?;
        convert::to_js(env, &unwrap_single(v, "gates"))
    }

    /// The log of anonymous (passport-less) decisions.
    #[napi(ts_return_type = "AttestationRecord[]")]
    pub fn anonymous_log<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let v = passgate::seam::call(&self.inner, "anonymous_log", &json!({})).js()?;
        convert::to_js(env, &unwrap_single(v, "attestations"))
    }

    fn seam<'e>(&self, env: &'e Env, op: &str, args: &Value) -> Result<Unknown<'e>> {
        let v = passgate::seam::call(&self.inner, op, args).js()?;
        match &v {
            Value::Object(m) => Ok(convert::object_to_js(env, m, 0, convert::camel)?.to_unknown()),
            other => convert::to_js(env, other),
        }
    }
}

/// A counter's state: `{namespace, constraint, scope, window: {kind, sizeMs} | {kind:
/// "calendar", unit, tz} | null, used, windowStart, windowEnd}` (`used` a decimal string, times
/// in epoch milliseconds).
fn counter_to_js<'e>(env: &'e Env, c: &CounterState) -> Result<Object<'e>> {
    let mut o = Object::new(env).napi()?;
    o.set_named_property("namespace", c.key.namespace.as_str())
        .napi()?;
    o.set_named_property("constraint", c.key.constraint.as_str())
        .napi()?;
    o.set_named_property("scope", c.key.scope.as_str()).napi()?;
    let window = match c.window {
        WindowKind::Forever => None,
        WindowKind::Fixed { size_ms } => Some(("fixed", size_ms)),
        WindowKind::Sliding { size_ms } => Some(("sliding", size_ms)),
        WindowKind::Calendar { .. } => None,
    };
    match (window, c.window) {
        (Some((kind, size_ms)), _) => {
            let mut w = Object::new(env).napi()?;
            w.set_named_property("kind", kind).napi()?;
            w.set_named_property("sizeMs", size_ms).napi()?;
            o.set_named_property("window", w)
        }
        (None, WindowKind::Calendar { unit, tz }) => {
            let mut w = Object::new(env).napi()?;
            w.set_named_property("kind", "calendar").napi()?;
            w.set_named_property("unit", unit.as_str()).napi()?;
            w.set_named_property("tz", tz.name()).napi()?;
            o.set_named_property("window", w)
        }
        (None, _) => o.set_named_property("window", Null),
    }
    .napi()?;
    o.set_named_property("used", c.used.normalize().to_string())
        .napi()?;
    o.set_named_property("windowStart", c.window_start_ms)
        .napi()?;
    // When the current window ends (the counter resets): fixed and calendar windows.
    let window_end = c
        .window_start_ms
        .and_then(|start| c.window.bounds(start))
        .map(|(_, end)| end);
    o.set_named_property("windowEnd", window_end).napi()?;
    Ok(o)
}

/// `{"gates": [...]}` → `[...]`: the seam wraps lists in a one-key object.
fn unwrap_single(v: Value, key: &str) -> Value {
    match v {
        Value::Object(mut m) if m.len() == 1 && m.contains_key(key) => {
            m.remove(key).unwrap_or(Value::Null)
        }
        other => other,
    }
}

fn optional_json(v: Unknown<'_>, kind: Kind, what: &str) -> Result<Option<Value>> {
    match v.get_type().napi()? {
        napi::ValueType::Undefined => Ok(None),
        _ => convert::to_json(v, kind, what).map(Some),
    }
}

fn load_policy(v: Unknown<'_>) -> Result<passgate::Policy> {
    match v.get_type().napi()? {
        napi::ValueType::String => {
            let s = String::from_unknown(v).napi()?;
            passgate::Policy::load(&s).js()
        }
        napi::ValueType::Object => {
            let doc = convert::to_json(v, Kind::Policy, "policy")?;
            passgate::seam::policy(&doc).js()
        }
        other => Err(error::core(passgate::Error::policy(
            "/",
            format!("a policy must be an object or a string, not {other}"),
        ))),
    }
}

const COUNTER_FILTER: &[&str] = &["namespace", "constraint", "scope", "gate", "agentId"];

/// The counter filters of `{namespace, constraint, scope, gate, agentId}`: `agentId` names the
/// agent's counters under every trusted issuer (`Engine::agent_scopes`).
fn counter_filters(
    engine: &passgate::Engine,
    filter: Option<Unknown<'_>>,
    what: &'static str,
) -> Result<Vec<CounterFilter>> {
    let o = Options::read(filter, what, COUNTER_FILTER)?;
    let mut f = CounterFilter {
        namespace: o.str("namespace")?,
        constraint: o.str("constraint")?,
        scope: o.str("scope")?,
    };
    if let Some(g) = o.str("gate")? {
        f.namespace = Some(format!("gate:{g}"));
    }
    Ok(engine.agent_filters(f, o.str("agentId")?.as_deref()))
}

const ATTESTATION_FILTER: &[&str] = &[
    "chain",
    "gate",
    "agentId",
    "decision",
    "evaluationId",
    "kind",
    "since",
    "until",
    "limit",
];

/// The page of `attestationsPage`: `cursor` may be `null` (the `nextCursor` of the last page
/// passed straight back), like absent.
#[napi(object)]
pub struct AttestationPage {
    #[napi(ts_type = "string | null")]
    pub cursor: Option<napi::Either<String, Null>>,
    pub limit: Option<u32>,
}

/// A page's cursor: `null` is no cursor (the first page).
fn page_cursor(cursor: Option<napi::Either<String, Null>>) -> Option<String> {
    match cursor {
        Some(napi::Either::A(c)) => Some(c),
        Some(napi::Either::B(Null)) | None => None,
    }
}

/// The page of `cumulativeStatePage`: `cursor` may be `null` (the `nextCursor` of the last
/// page passed straight back), like absent.
#[napi(object)]
pub struct CounterPage {
    #[napi(ts_type = "string | null")]
    pub cursor: Option<napi::Either<String, Null>>,
    pub limit: Option<u32>,
}

/// The options of `exportAttestations`.
#[napi(object)]
pub struct ExportOptions {
    /// Only records at or after this time (epoch ms).
    pub since: Option<i64>,
}

fn attestation_filter(filter: Option<Unknown<'_>>) -> Result<AttestationFilter> {
    let o = Options::read(filter, "attestations", ATTESTATION_FILTER)?;
    Ok(AttestationFilter {
        chain: o.str("chain")?,
        gate: o.str("gate")?,
        agent_id: o.str("agentId")?,
        decision: o.str("decision")?,
        evaluation_id: o.str("evaluationId")?,
        kind: o.str("kind")?,
        since_ms: o.int("since")?,
        until_ms: o.int("until")?,
        limit: o
            .int("limit")?
            .map(|l| {
                usize::try_from(l)
                    .map_err(|_| invalid("attestations: limit must be a non-negative integer"))
            })
            .transpose()?,
        anonymous_only: false,
    })
}
