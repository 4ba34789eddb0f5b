//! `passgate.pkce`: PKCE (S256) helpers and the authorization-code flow of `passgate::pkce`,
//! thinly: every rule is the core's.

use std::sync::Arc;

use passgate::pkce;
use pyo3::prelude::*;

use crate::engine::str_arg;
use crate::errors::OrRaise;
use crate::passport::{PyIssuedPassport, PyIssuer};

/// A fresh code verifier: 43 characters of RFC 7636's unreserved set.
#[pyfunction]
pub(crate) fn pkce_generate_verifier(py: Python<'_>) -> PyResult<String> {
    pkce::generate_verifier().or_raise(py)
}

/// The S256 code challenge of `verifier` (base64url of its SHA-256). A malformed verifier
/// raises `InputError` (`INVALID_ARGUMENT`, path `/code_verifier`).
#[pyfunction]
pub(crate) fn pkce_challenge_s256(py: Python<'_>, verifier: &Bound<'_, PyAny>) -> PyResult<String> {
    let verifier = str_arg(verifier, "verifier")?;
    pkce::challenge_s256(&verifier).or_raise(py)
}

/// Whether `challenge` is the S256 challenge of `verifier` (compared in constant time).
#[pyfunction]
pub(crate) fn pkce_verify_s256(
    py: Python<'_>,
    verifier: &Bound<'_, PyAny>,
    challenge: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let verifier = str_arg(verifier, "verifier")?;
    let challenge = str_arg(challenge, "challenge")?;
    pkce::verify_s256(&verifier, &challenge).or_raise(py)
}

/// An authorization-code flow with PKCE (S256), in memory, minting passports signed by
/// `issuer` with exactly the consented permissions, valid `passport_ttl` seconds (default 900).
/// Codes are single-use, live 60 seconds, and are burnt by the first failed exchange.
#[pyclass(frozen, module = "passgate", name = "AuthorizationFlow")]
pub(crate) struct PyAuthorizationFlow {
    inner: Arc<pkce::AuthorizationFlow>,
}

#[pymethods]
impl PyAuthorizationFlow {
    #[new]
    #[pyo3(signature = (issuer, *, passport_ttl=None))]
    fn new(
        py: Python<'_>,
        issuer: &Bound<'_, PyIssuer>,
        passport_ttl: Option<i64>,
    ) -> PyResult<Self> {
        let mut flow = pkce::AuthorizationFlow::new(issuer.get().inner.clone());
        if let Some(secs) = passport_ttl {
            flow = flow.with_passport_ttl_secs(secs).or_raise(py)?;
        }
        Ok(PyAuthorizationFlow {
            inner: Arc::new(flow),
        })
    }

    /// The issuer's `did:key` (what the engine trusts).
    #[getter]
    fn issuer_did(&self) -> String {
        self.inner.issuer_did().to_string()
    }

    /// Records the user's consent and returns the code for the redirect. `code_challenge_method`
    /// must be `"S256"`.
    #[pyo3(signature = (*, agent_id, permissions, code_challenge, code_challenge_method, redirect_uri, client_id))]
    #[allow(clippy::too_many_arguments)]
    fn authorize(
        &self,
        py: Python<'_>,
        agent_id: &Bound<'_, PyAny>,
        permissions: Vec<String>,
        code_challenge: &Bound<'_, PyAny>,
        code_challenge_method: &Bound<'_, PyAny>,
        redirect_uri: &Bound<'_, PyAny>,
        client_id: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let agent_id = str_arg(agent_id, "agent_id")?;
        let challenge = str_arg(code_challenge, "code_challenge")?;
        let method = str_arg(code_challenge_method, "code_challenge_method")?;
        let redirect_uri = str_arg(redirect_uri, "redirect_uri")?;
        let client_id = str_arg(client_id, "client_id")?;
        self.inner
            .authorize(
                &agent_id,
                &permissions,
                &challenge,
                &method,
                &redirect_uri,
                &client_id,
            )
            .or_raise(py)
    }

    /// Exchanges a code and its verifier for an `IssuedPassport`. Any failure (unknown, used or
    /// expired code, another redirect URI or client, a wrong verifier) raises `PassportError`
    /// with code `GRANT_INVALID`, and the code is burnt.
    #[pyo3(signature = (*, code, code_verifier, redirect_uri, client_id))]
    fn exchange(
        &self,
        py: Python<'_>,
        code: &Bound<'_, PyAny>,
        code_verifier: &Bound<'_, PyAny>,
        redirect_uri: &Bound<'_, PyAny>,
        client_id: &Bound<'_, PyAny>,
    ) -> PyResult<PyIssuedPassport> {
        let code = str_arg(code, "code")?;
        let verifier = str_arg(code_verifier, "code_verifier")?;
        let redirect_uri = str_arg(redirect_uri, "redirect_uri")?;
        let client_id = str_arg(client_id, "client_id")?;
        let flow = Arc::clone(&self.inner);
        let issued = py
            .detach(move || flow.exchange(&code, &verifier, &redirect_uri, &client_id))
            .or_raise(py)?;
        let v = serde_json::to_value(issued)
            .map_err(|e| passgate::Error::Internal(format!("issued passport: {e}")))
            .or_raise(py)?;
        PyIssuedPassport::from_json(py, &v)
    }

    fn __repr__(&self) -> String {
        format!(
            "AuthorizationFlow(issuer_did={:?})",
            self.inner.issuer_did()
        )
    }
}
