//! `passgate._native`: the Python binding of the passgate engine (PyO3).
//!
//! Thin by design: every rule lives in the core crate; this crate converts Python objects to the
//! core's types by walking them ([`convert`]), maps core errors to Python exceptions by code
//! ([`errors`]), and releases the GIL around everything that signs or touches the store. The
//! Python package `passgate` (in `python/passgate/`) re-exports it; `_native.pyi` is its stub.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

mod convert;
mod decision;
mod engine;
mod errors;
mod events;
mod gateway;
mod passport;
mod pkce;

use convert::{to_py, to_value, Ctx};
use errors::OrRaise;

/// The addon's allocator for its own (Rust) allocations; Python's objects keep Python's. A call
/// allocates and frees a few dozen small blocks (the payload's `Value` tree, the decision's
/// checks), and glibc's `malloc`/`free` were ≈ 23% of a `dry_run` call's instructions from Python
/// (benches/PROFILE.md, eighth pass). The choice is the package's, as pydantic-core's is; the
/// Rust crate leaves its host's allocator alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Verifies one attestation record (a dict `{"body", "hash", "sig", "kid"}`) against the did:key
/// that should have signed it. Returns True, or raises `AttestationError` whose `.code` says what
/// is wrong (`ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`, `ATTESTATION_KEY`, ...).
#[pyfunction]
fn verify_attestation(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    did: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let did = engine::str_arg(did, "did")?;
    let record = to_value(record, Ctx::Attestation)?;
    py.detach(|| passgate::verify_attestation(&record, &did))
        .or_raise(py)?;
    Ok(true)
}

/// Verifies one chain's records, in `seq` order, against the did:key that signed them. Returns
/// True, or raises `AttestationError` on any changed byte, a dropped, duplicated or reordered
/// record (`CHAIN_GAP`, `CHAIN_DUPLICATE`, `CHAIN_ORDER`), records of several chains
/// (`CHAIN_MISMATCH`) or a wrong key. With `head` (from `Engine.chain_head()`), records cut
/// from the end of the chain are detected too (`CHAIN_GAP`).
#[pyfunction]
#[pyo3(signature = (records, did, *, head=None))]
fn verify_chain(
    py: Python<'_>,
    records: &Bound<'_, PyAny>,
    did: &Bound<'_, PyAny>,
    head: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let did = engine::str_arg(did, "did")?;
    if records.cast::<PyList>().is_err() && records.cast::<PyTuple>().is_err() {
        return Err(errors::to_py_err(
            py,
            &passgate::Error::InvalidArgument("records must be a list of attestation dicts".into()),
        ));
    }
    let mut values = Vec::new();
    for r in records.try_iter()? {
        values.push(to_value(&r?, Ctx::Attestation)?);
    }
    let head = head.map(|h| to_value(h, Ctx::Attestation)).transpose()?;
    py.detach(|| match &head {
        Some(h) => passgate::verify_chain_with_head(&values, &did, h),
        None => passgate::verify_chain(&values, &did),
    })
    .or_raise(py)?;
    Ok(true)
}

/// Verifies that `record` (an attestation, signed or — with checkpointed signing — not) is in the
/// signed log: its hash and leaf, the signature of `proof["head"]` (a `checkpoint` record) by
/// `did`, and the RFC 9162 inclusion path `proof["proof"]` to the head's root. `proof` is what
/// `Engine.inclusion_proof` returns. Returns True or raises `AttestationError`
/// (`ATTESTATION_PROOF`, `ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`, ...).
#[pyfunction]
fn verify_inclusion_proof(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    did: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let did = engine::str_arg(did, "did")?;
    let record = to_value(record, Ctx::Attestation)?;
    let proof = to_value(proof, Ctx::Attestation)?;
    py.detach(|| passgate::verify_inclusion_proof(&record, &proof, &did))
        .or_raise(py)?;
    Ok(true)
}

fn hashes(
    py: Python<'_>,
    v: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<Vec<passgate::merkle::Hash>> {
    let bad = || {
        errors::to_py_err(
            py,
            &passgate::Error::argument(
                format!("/{name}"),
                "must be a list of \"sha256:<hex>\" strings",
            ),
        )
    };
    if v.cast::<PyString>().is_ok() {
        return Err(bad());
    }
    let mut out = Vec::new();
    for item in v.try_iter().map_err(|_| bad())? {
        let s: String = item?.extract().map_err(|_| bad())?;
        out.push(passgate::merkle::from_tagged(&s).ok_or_else(bad)?);
    }
    Ok(out)
}

fn one_hash(py: Python<'_>, v: &Bound<'_, PyAny>, name: &str) -> PyResult<passgate::merkle::Hash> {
    let s: String = v.extract().map_err(|_| {
        errors::to_py_err(
            py,
            &passgate::Error::argument(format!("/{name}"), "must be \"sha256:<hex>\""),
        )
    })?;
    passgate::merkle::from_tagged(&s).ok_or_else(|| {
        errors::to_py_err(
            py,
            &passgate::Error::argument(format!("/{name}"), "must be \"sha256:<hex>\""),
        )
    })
}

/// RFC 9162 §2.1.3.2: whether `proof` (`["sha256:<hex>", ...]`) proves that `leaf_hash` is
/// leaf `index` of the tree of `tree_size` leaves whose root is `root`. False (never an
/// exception) for an index outside the tree or a proof of the wrong length; `InputError` only
/// for arguments that are not hashes or integers.
#[pyfunction]
fn verify_inclusion(
    py: Python<'_>,
    leaf_hash: &Bound<'_, PyAny>,
    index: u64,
    tree_size: u64,
    proof: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let leaf = one_hash(py, leaf_hash, "leaf_hash")?;
    let proof = hashes(py, proof, "proof")?;
    let root = one_hash(py, root, "root")?;
    Ok(passgate::merkle::verify_inclusion(
        &leaf, index, tree_size, &proof, &root,
    ))
}

/// RFC 9162 §2.1.4.2: whether `proof` proves that the tree of `new_size` leaves with root
/// `new_root` extends the tree of `old_size` leaves with root `old_root`. False (never an
/// exception) for sizes out of order, `old_size` 0 or a proof of the wrong length.
#[pyfunction]
fn verify_consistency(
    py: Python<'_>,
    old_size: u64,
    new_size: u64,
    old_root: &Bound<'_, PyAny>,
    new_root: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let a = one_hash(py, old_root, "old_root")?;
    let b = one_hash(py, new_root, "new_root")?;
    let proof = hashes(py, proof, "proof")?;
    Ok(passgate::merkle::verify_consistency(
        old_size, new_size, &a, &b, &proof,
    ))
}

/// The built-in constraint types, each with a description and the JSON Schema of its parameters.
#[pyfunction]
fn constraint_types(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &passgate::constraint_types())
}

/// The built-in templates (named, parameterised constraint lists) with their parameters.
#[pyfunction]
fn templates(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &passgate::templates())
}

/// passgate's MCP tool catalogue for a role (`"agent"`: the agent tools only; `"operator"`: every
/// tool): `[{"name", "title", "description", "inputSchema", "annotations", "outputSchema"?}]`.
#[pyfunction]
#[pyo3(signature = (role="agent"))]
fn mcp_tools<'py>(py: Python<'py>, role: &str) -> PyResult<Bound<'py, PyAny>> {
    let role = passgate::mcp::Role::parse(role).map_err(|e| errors::to_py_err(py, &e))?;
    to_py(py, &passgate::mcp::tools(role))
}

/// Answers one MCP JSON-RPC 2.0 message (text) from a caller: the response text, or None for a
/// notification. `role` is `"agent"` (with the connection's `passport` and the host's `client`
/// key, if any) or `"operator"` (with its `operator` name, recorded as approver). `issuer`, if
/// given, lets the operator's `issue_passport` issue. Protocol faults are JSON-RPC errors in the
/// returned text; only a bad role raises. Runs with the GIL released. `api_key`: the caller is
/// that API key (the tools of its scopes), with no role, passport, operator or client given.
#[pyfunction]
#[pyo3(signature = (engine, message, issuer=None, role="agent", passport=None, operator=None, client=None, api_key=None))]
#[allow(clippy::too_many_arguments)]
fn mcp_handle(
    py: Python<'_>,
    engine: &Bound<'_, engine::PyEngine>,
    message: &Bound<'_, PyAny>,
    issuer: Option<&Bound<'_, passport::PyIssuer>>,
    role: &str,
    passport: Option<&Bound<'_, PyAny>>,
    operator: Option<&Bound<'_, PyAny>>,
    client: Option<&Bound<'_, PyAny>>,
    api_key: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<String>> {
    let message = engine::str_arg(message, "message")?;
    let passport = engine::opt_str_arg(passport, "passport")?;
    let operator = engine::opt_str_arg(operator, "operator")?;
    let client = engine::opt_str_arg(client, "client")?;
    let api_key = engine::opt_str_arg(api_key, "api_key")?;
    let mut caller = match api_key {
        None => passgate::mcp::Caller::parse(role, passport, operator)
            .map_err(|e| errors::to_py_err(py, &e))?,
        Some(secret) => {
            if role != "agent" || passport.is_some() || operator.is_some() || client.is_some() {
                return Err(errors::to_py_err(
                    py,
                    &passgate::Error::InvalidArgument(
                        "an api_key caller takes no role, passport, operator or client".into(),
                    ),
                ));
            }
            let principal = engine
                .get()
                .engine()
                .authenticate_api_key(&secret)
                .map_err(|e| errors::to_py_err(py, &e))?;
            passgate::mcp::Caller::Key(principal)
        }
    };
    if let Some(c) = client {
        match &mut caller {
            passgate::mcp::Caller::Agent { client, .. } => *client = Some(c),
            _ => {
                return Err(errors::to_py_err(
                    py,
                    &passgate::Error::InvalidArgument(
                        "a client key was given for the operator role".into(),
                    ),
                ))
            }
        }
    }
    let engine = engine.get();
    engine.tick(py)?;
    let engine = engine.engine();
    let issuer = issuer.map(|i| &i.get().inner);
    Ok(py.detach(|| passgate::mcp::handle(engine, &caller, issuer, &message)))
}

/// The core's operations, `[{"name", "description", "effect", "input_schema",
/// "output_schema"}]`: every one is an `Engine` method (or reachable through
/// `Engine.__getattr__`) taking the operation's snake_case arguments.
#[pyfunction]
fn operations(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &passgate::ops::describe())
}

/// The one JSON entry point: runs operation `name` on `engine` with `args` (a dict of its
/// snake_case arguments) and returns its JSON result as Python data. Every `Engine` method other
/// than `enforce` / `dry_run` is glue around this call.
#[pyfunction]
#[pyo3(signature = (engine, name, args=None))]
fn call<'py>(
    py: Python<'py>,
    engine: &Bound<'py, engine::PyEngine>,
    name: &Bound<'py, PyAny>,
    args: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = engine::str_arg(name, "name")?;
    let args = match args.filter(|a| !a.is_none()) {
        Some(a) => to_value(a, Ctx::Arguments)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let v = engine.get().op(py, &name, args)?;
    to_py(py, &v)
}

/// Operation `name` of `engine` as a keyword-argument callable: what `Engine.__getattr__`
/// returns for an operation with no method of its own.
#[pyfunction]
fn _operation(engine: &Bound<'_, engine::PyEngine>, name: &str) -> PyResult<engine::PyOperation> {
    engine::operation(engine, name)
}

/// A proof of possession for a request to `gate` with `payload`, signed by the agent's key:
/// `agent_key` is the `IssuedPassport` the agent holds (its `private_key`) or that secret. The
/// request hash is computed by the engine's own code. `catalog_hash` is the content hash of the
/// passport's catalog pin for the gate (None without one); `nonce` defaults to a fresh random
/// one, `ts` (ms since the epoch) to now. Returns `{"nonce", "ts", "sig"}` for `enforce(...,
/// pop=...)`. A bad argument raises `InputError` naming it (`/pop/nonce`, ...); a bad secret
/// `PassgateError` with code `KEY_INVALID`.
#[pyfunction]
#[pyo3(signature = (agent_key, *, gate, payload=None, catalog_hash=None, nonce=None, ts=None))]
fn make_pop<'py>(
    py: Python<'py>,
    agent_key: &Bound<'py, PyAny>,
    gate: &Bound<'py, PyAny>,
    payload: Option<&Bound<'py, PyAny>>,
    catalog_hash: Option<&Bound<'py, PyAny>>,
    nonce: Option<&Bound<'py, PyAny>>,
    ts: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let secret = match agent_key.cast::<passport::PyIssuedPassport>() {
        Ok(p) => p.get().inner.private_key.clone(),
        Err(_) => engine::str_arg(agent_key, "agent_key")?,
    };
    let key = passgate::KeyPair::from_secret(&secret).or_raise(py)?;
    let gate = engine::str_arg(gate, "gate")?;
    let payload = match payload {
        Some(p) if !p.is_none() => to_value(p, Ctx::Payload)?,
        _ => serde_json::Value::Null,
    };
    let catalog_hash = engine::opt_str_arg(catalog_hash, "catalog_hash")?;
    let nonce = engine::opt_str_arg(nonce, "nonce")?;
    let ts = match ts.filter(|t| !t.is_none()) {
        None => None,
        Some(t) if t.cast::<pyo3::types::PyBool>().is_ok() => {
            return Err(errors::to_py_err(
                py,
                &passgate::Error::argument("/pop/ts", "ts must be an int (ms since the epoch)"),
            ))
        }
        Some(t) => Some(t.extract::<i64>().map_err(|_| {
            errors::to_py_err(
                py,
                &passgate::Error::argument(
                    "/pop/ts",
                    "ts must be an int of ms since the epoch (0 to 2**63-1)",
                ),
            )
        })?),
    };
    let req = passgate::Request::new(gate, payload);
    let pop = py
        .detach(|| passgate::pop::sign(&key, &req, catalog_hash.as_deref(), nonce, ts))
        .or_raise(py)?;
    to_py(py, &pop.to_value())
}

/// Every error code the core can raise, with the name of the exception class of its family
/// (`passgate::Family::class_name`; `"PassgateError"` for `INTERNAL`): `{code: class_name}`.
#[pyfunction]
fn error_codes(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for code in passgate::Error::CODES {
        let family = passgate::Family::of(code);
        d.set_item(*code, family.class_name().unwrap_or("PassgateError"))?;
    }
    Ok(d)
}

/// One step of the MCP guard (`passgate.mcp.guard`), built by the core so that the Python and
/// Node guards answer alike: `inputs`, `trace`, `outcome`, `error`, `internal` (see
/// `passgate::mcp::guard::call`).
#[pyfunction]
fn _mcp_guard<'py>(
    py: Python<'py>,
    step: &str,
    args: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let args = to_value(args, Ctx::Argument("guard arguments"))?;
    let out = passgate::mcp::guard::call(step, &args).or_raise(py)?;
    to_py(py, &out)
}

/// The exception class raised for an error `code` (for tests and tooling).
#[pyfunction]
fn _exception_for<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyType>> {
    errors::class_for(py, code)
}

/// Runs the `passgate` command line with `args` (without the program name) on the process's
/// standard streams, the GIL released; returns the exit code (`passgate.cli.main`).
#[pyfunction]
fn cli_main(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(|| passgate::cli::main(args))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    convert::install_panic_hook();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ERROR_CODES", PyTuple::new(m.py(), passgate::Error::CODES)?)?;
    errors::register(m)?;
    m.add_class::<passport::PyIssuer>()?;
    m.add_class::<passport::PyIssuedPassport>()?;
    m.add_class::<pkce::PyAuthorizationFlow>()?;
    m.add_function(wrap_pyfunction!(pkce::pkce_generate_verifier, m)?)?;
    m.add_function(wrap_pyfunction!(pkce::pkce_challenge_s256, m)?)?;
    m.add_function(wrap_pyfunction!(pkce::pkce_verify_s256, m)?)?;
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<gateway::PyGateway>()?;
    m.add_class::<decision::PyDecision>()?;
    m.add_class::<events::PySubscription>()?;
    m.add_function(wrap_pyfunction!(verify_attestation, m)?)?;
    m.add_function(wrap_pyfunction!(make_pop, m)?)?;
    m.add_function(wrap_pyfunction!(verify_chain, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion_proof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(constraint_types, m)?)?;
    m.add_function(wrap_pyfunction!(templates, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_tools, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_handle, m)?)?;
    m.add_function(wrap_pyfunction!(_exception_for, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(operations, m)?)?;
    m.add_function(wrap_pyfunction!(call, m)?)?;
    m.add_function(wrap_pyfunction!(_operation, m)?)?;
    m.add_function(wrap_pyfunction!(decision::_decision_from_json, m)?)?;
    m.add_class::<engine::PyOperation>()?;
    m.add_function(wrap_pyfunction!(_mcp_guard, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
