//! `Issuer` and `IssuedPassport`: signing passports and delegating them to sub-agents.

use passgate::{IssuedPassport, Issuer, PassportRequest};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::{to_py, to_value, Ctx};
use crate::decision::quote;
use crate::errors::OrRaise;

/// Seconds in `days` (a float, so tests can ask for seconds), refusing what is not a positive,
/// finite, representable lifetime.
pub(crate) fn lifetime_secs(py: Python<'_>, days: f64) -> PyResult<i64> {
    let secs = (days * 86_400.0).round();
    if !(1.0..9.0e15).contains(&secs) {
        return Err(passgate::Error::InvalidArgument(format!(
            "expires_in_days must be positive and at least one second, got {days}"
        )))
        .or_raise(py);
    }
    // In range by the check above.
    Ok(secs as i64)
}

/// A passport request from the Python keyword arguments shared by issuance and delegation.
fn request(
    py: Python<'_>,
    agent_id: String,
    agent_name: Option<String>,
    permissions: Vec<String>,
    expires_in_days: f64,
    caveats: Option<&Bound<'_, PyAny>>,
) -> PyResult<PassportRequest> {
    let mut req = PassportRequest::new(agent_id, permissions);
    req.agent_name = agent_name;
    req.expires_in_secs = lifetime_secs(py, expires_in_days)?;
    if let Some(c) = caveats {
        if !c.is_none() {
            let list = c.cast::<PyList>().map_err(|_| {
                crate::errors::to_py_err(
                    py,
                    &passgate::Error::InvalidArgument("caveats must be a list of dicts".into()),
                )
            })?;
            for item in list.iter() {
                req.caveats.push(to_value(&item, Ctx::Argument("caveats"))?);
            }
        }
    }
    Ok(req)
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
    fn from_secret(py: Python<'_>, secret: &str) -> PyResult<Self> {
        Ok(PyIssuer {
            inner: Issuer::from_secret(secret).or_raise(py)?,
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
    /// valid for `expires_in_days` from now, with optional `caveats` (constraint dicts applying to
    /// every request made with it). The agent's private key is in the result, once.
    #[pyo3(signature = (agent_id, *, agent_name=None, permissions=Vec::new(), expires_in_days=30.0, caveats=None))]
    fn issue_passport(
        &self,
        py: Python<'_>,
        agent_id: String,
        agent_name: Option<String>,
        permissions: Vec<String>,
        expires_in_days: f64,
        caveats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        let req = request(
            py,
            agent_id,
            agent_name,
            permissions,
            expires_in_days,
            caveats,
        )?;
        let inner = py.detach(|| self.inner.issue_passport(&req)).or_raise(py)?;
        Ok(PyIssuedPassport { inner })
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
    pub(crate) fn new(inner: IssuedPassport) -> Self {
        PyIssuedPassport { inner }
    }
}

#[pymethods]
impl PyIssuedPassport {
    /// A passport from its token and the agent's private key (as kept by the agent), to delegate
    /// from it. The key must be the one named by the token's `cnf` (`KEY_INVALID` otherwise).
    #[staticmethod]
    fn from_token(py: Python<'_>, token: &str, private_key: &str) -> PyResult<Self> {
        Ok(PyIssuedPassport {
            inner: IssuedPassport::from_token(token, private_key).or_raise(py)?,
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
    #[pyo3(signature = (agent_id, *, agent_name=None, permissions=Vec::new(), expires_in_days=30.0, caveats=None))]
    fn issue_sub_passport(
        &self,
        py: Python<'_>,
        agent_id: String,
        agent_name: Option<String>,
        permissions: Vec<String>,
        expires_in_days: f64,
        caveats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        let req = request(
            py,
            agent_id,
            agent_name,
            permissions,
            expires_in_days,
            caveats,
        )?;
        let inner = py
            .detach(|| self.inner.issue_sub_passport(&req))
            .or_raise(py)?;
        Ok(PyIssuedPassport { inner })
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
