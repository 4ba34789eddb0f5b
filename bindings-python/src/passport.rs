//! `Issuer` and `IssuedPassport`: signing passports and delegating them to sub-agents.

use passgate::{ops, IssuedPassport, Issuer};
use pyo3::prelude::*;
use serde_json::Value;

use crate::convert::to_py;
use crate::decision::quote;
use crate::engine::{str_arg, Args};
use crate::errors::OrRaise;

/// Issues through the core's `issue_passport` operation: `issuer_secret` signs (an issuer's
/// secret, or with `parent` the parent passport's agent key); the other arguments are converted
/// as they are, and every rule (permissions, days, caveats) is the core's.
#[allow(clippy::too_many_arguments)]
fn issue(
    py: Python<'_>,
    issuer_secret: String,
    parent: Option<String>,
    agent_id: &Bound<'_, PyAny>,
    agent_name: Option<&Bound<'_, PyAny>>,
    permissions: Option<&Bound<'_, PyAny>>,
    expires_in_days: Option<&Bound<'_, PyAny>>,
    caveats: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyIssuedPassport> {
    let args = Args::new()
        .json("issuer_secret", Value::String(issuer_secret))
        .json("passport", parent.map_or(Value::Null, Value::String))
        .py("agent_id", Some(agent_id))?
        .py("agent_name", agent_name)?
        .py("permissions", permissions)?
        .py("expires_in_days", expires_in_days)?
        .py("caveats", caveats)?
        .value();
    let issued = py
        .detach(|| ops::parse::<ops::IssuePassport>(args)?.issue())
        .or_raise(py)?;
    let v = serde_json::to_value(issued)
        .map_err(|e| passgate::Error::Internal(format!("issued passport: {e}")))
        .or_raise(py)?;
    PyIssuedPassport::from_json(py, &v)
}

/// A key pair that signs root passports; engines trust it by its `did`.
///
/// ```python
/// issuer = Issuer.generate()
/// passport = issuer.issue_passport(agent_id="agent-7", permissions=["payments:send"])
/// engine = Engine(policy, trusted_issuers=[issuer.did])
/// ```
#[pyclass(frozen, module = "passgate", name = "Issuer")]
pub(crate) struct PyIssuer {
    pub(crate) inner: Issuer,
}

#[pymethods]
impl PyIssuer {
    /// An issuer with a fresh random key.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        Ok(PyIssuer {
            inner: Issuer::generate().or_raise(py)?,
        })
    }

    /// The issuer whose secret (`issuer.secret`, base64url of the Ed25519 seed) is `secret`.
    #[staticmethod]
    fn from_secret(py: Python<'_>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        let secret = str_arg(secret, "secret")?;
        Ok(PyIssuer {
            inner: Issuer::from_secret(&secret).or_raise(py)?,
        })
    }

    /// The issuer's `did:key` (`did:key:z6Mk...`): what an engine lists in `trusted_issuers`.
    #[getter]
    fn did(&self) -> &str {
        self.inner.did()
    }

    /// The public key as an RFC 8037 JWK dict (`{"kty": "OKP", "crv": "Ed25519", "x": ...}`), for
    /// verifying passports with any JOSE library.
    #[getter]
    fn public_jwk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.public_jwk())
    }

    /// The issuer's secret (base64url seed). Treat it like a password.
    #[getter]
    fn secret(&self) -> String {
        self.inner.secret()
    }

    /// Issues a passport for `agent_id` with `permissions` (`"resource:action"`, `*` wildcards),
    /// valid for `expires_in_days` (whole days, default 30) from now, with optional `caveats`
    /// (constraint dicts applying to every request made with it). The agent's private key is in
    /// the result, once.
    #[pyo3(signature = (agent_id, *, agent_name=None, permissions=None, expires_in_days=None, caveats=None))]
    fn issue_passport(
        &self,
        py: Python<'_>,
        agent_id: &Bound<'_, PyAny>,
        agent_name: Option<&Bound<'_, PyAny>>,
        permissions: Option<&Bound<'_, PyAny>>,
        expires_in_days: Option<&Bound<'_, PyAny>>,
        caveats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        issue(
            py,
            self.inner.secret(),
            None,
            agent_id,
            agent_name,
            permissions,
            expires_in_days,
            caveats,
        )
    }

    fn __repr__(&self) -> String {
        format!("Issuer(did={})", quote(self.inner.did()))
    }
}

/// A passport as issued: the token to present, its ids, and the agent's own key pair.
///
/// `private_key` is returned only here; the agent keeps it to delegate with
/// `issue_sub_passport`. `IssuedPassport.from_token(token, private_key)` rebuilds one later.
#[pyclass(frozen, module = "passgate", name = "IssuedPassport")]
pub(crate) struct PyIssuedPassport {
    pub(crate) inner: IssuedPassport,
}

impl PyIssuedPassport {
    /// An issued passport from the core's JSON of one (`{token, private_key, ...}`).
    pub(crate) fn from_json(py: Python<'_>, v: &Value) -> PyResult<Self> {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| passgate::Error::Internal(format!("issued passport: no {k}")))
        };
        let inner = text("token")
            .and_then(|t| IssuedPassport::from_token(t, text("private_key")?))
            .or_raise(py)?;
        Ok(PyIssuedPassport { inner })
    }
}

#[pymethods]
impl PyIssuedPassport {
    /// A passport from its token and the agent's private key (as kept by the agent), to delegate
    /// from it. The key must be the one named by the token's `cnf` (`KEY_INVALID` otherwise).
    #[staticmethod]
    fn from_token(
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        private_key: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (token, key) = (
            str_arg(token, "token")?,
            str_arg(private_key, "private_key")?,
        );
        Ok(PyIssuedPassport {
            inner: IssuedPassport::from_token(&token, &key).or_raise(py)?,
        })
    }

    /// The compact JWS to present with each request.
    #[getter]
    fn token(&self) -> &str {
        &self.inner.token
    }

    /// The passport id (`jti`, `psp_...`): what `revoke_passport` names.
    #[getter]
    fn passport_id(&self) -> &str {
        &self.inner.passport_id
    }

    /// The agent id (`sub`).
    #[getter]
    fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }

    /// The agent's own `did:key` (the key in `cnf`).
    #[getter]
    fn did(&self) -> &str {
        &self.inner.did
    }

    /// The agent's private key (base64url seed): shown once, keep it secret.
    #[getter]
    fn private_key(&self) -> &str {
        &self.inner.private_key
    }

    /// Expiry (`exp`), in seconds since the epoch.
    #[getter]
    fn expires_at(&self) -> i64 {
        self.inner.expires_at
    }

    /// Delegates: a passport for a sub-agent, signed with this passport's agent key. It may not
    /// widen this one: a permission this passport lacks or a later expiry raises
    /// `PassportError` (`DELEGATION_WIDENS`); nothing is clamped silently. The default lifetime
    /// (30 days) is usually longer than the parent's: pass `expires_in_days`.
    #[pyo3(signature = (agent_id, *, agent_name=None, permissions=None, expires_in_days=None, caveats=None))]
    fn issue_sub_passport(
        &self,
        py: Python<'_>,
        agent_id: &Bound<'_, PyAny>,
        agent_name: Option<&Bound<'_, PyAny>>,
        permissions: Option<&Bound<'_, PyAny>>,
        expires_in_days: Option<&Bound<'_, PyAny>>,
        caveats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        issue(
            py,
            self.inner.private_key.clone(),
            Some(self.inner.token.clone()),
            agent_id,
            agent_name,
            permissions,
            expires_in_days,
            caveats,
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "IssuedPassport(passport_id={}, agent_id={}, expires_at={})",
            quote(&self.inner.passport_id),
            quote(&self.inner.agent_id),
            self.inner.expires_at
        )
    }
}
