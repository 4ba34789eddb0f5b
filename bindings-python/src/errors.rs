//! Exceptions: one Python class per family of core error codes, all deriving from
//! `PassgateError`, each instance carrying the stable `.code` and the `.message`.
//!
//! The classes are plain Python exception classes (so they pickle, subclass and print like any
//! other), defined once when the module loads and raised from Rust by code.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The source of the exception classes, executed once when `passgate._native` is imported.
const SOURCE: &std::ffi::CStr = c"
class PassgateError(Exception):
    '''Base of every passgate error.

    ``code`` is the stable SCREAMING_SNAKE error code (``POLICY_INVALID``, ``PASSPORT_EXPIRED``,
    ...); ``message`` says what was wrong and where. ``str(error)`` is ``CODE: message``.
    A *deny* is a ``Decision``, never an exception.
    '''

    __module__ = 'passgate'
    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f'{self.code}: {self.message}'


class PolicyError(PassgateError):
    '''The policy document could not be read, parsed, validated or compiled (``POLICY_INVALID``).'''

    __module__ = 'passgate'


class PassportError(PassgateError):
    '''A passport or key problem: ``PASSPORT_*``, ``ISSUER_UNTRUSTED``, ``DELEGATION_WIDENS``,
    ``KEY_INVALID``.'''

    __module__ = 'passgate'


class InputError(PassgateError):
    '''Malformed or oversized input, or a reference to something that is not there (any more):
    ``PAYLOAD_INVALID``, ``LIMIT_EXCEEDED``, ``INVALID_ARGUMENT``, ``GATE_UNKNOWN``,
    ``HOLD_UNKNOWN``, ``HOLD_CLOSED``, ``APPROVAL_UNKNOWN``, ``APPROVAL_CLOSED``, ``FORBIDDEN``
    (the caller's role or identity may not do this), and ``HOLD_EXCEEDS``, no longer produced:
    a settle past the cap is recorded with an ``overrun``.'''

    __module__ = 'passgate'


class IdempotencyConflict(PassgateError):
    '''An idempotency key was reused for a different request (``IDEMPOTENCY_CONFLICT``).'''

    __module__ = 'passgate'


class StoreError(PassgateError):
    '''The state store failed or could not be reached; nothing was admitted
    (``STORE_UNAVAILABLE``), or the engine was built in another process: this is a ``fork()``ed
    child (``PROCESS_FORKED``; build the engine after forking).'''

    __module__ = 'passgate'


class AttestationError(PassgateError):
    '''An attestation record or chain does not verify: ``ATTESTATION_*``, ``CHAIN_*``.'''

    __module__ = 'passgate'
";

/// The exception classes, in the order of [`NAMES`].
struct Classes([Py<PyType>; 7]);

/// Class names, base first.
pub(crate) const NAMES: [&str; 7] = [
    "PassgateError",
    "PolicyError",
    "PassportError",
    "InputError",
    "IdempotencyConflict",
    "StoreError",
    "AttestationError",
];

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = PyModule::from_code(py, SOURCE, c"passgate/_errors.py", c"passgate._errors")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        let [a, b, c, d, e, f, g] = NAMES;
        Ok(Classes([
            get(a)?,
            get(b)?,
            get(c)?,
            get(d)?,
            get(e)?,
            get(f)?,
            get(g)?,
        ]))
    })
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in NAMES.iter().zip(classes(py)?.0.iter()) {
        m.add(*name, class.bind(py))?;
    }
    Ok(())
}

/// The index in [`NAMES`] of the class raised for `code`.
fn family(code: &str) -> usize {
    match code {
        "POLICY_INVALID" => 1,
        "ISSUER_UNTRUSTED" | "DELEGATION_WIDENS" | "KEY_INVALID" => 2,
        c if c.starts_with("PASSPORT_") => 2,
        "PAYLOAD_INVALID" | "LIMIT_EXCEEDED" | "INVALID_ARGUMENT" | "GATE_UNKNOWN"
        | "FORBIDDEN" => 3,
        c if c.starts_with("HOLD_") || c.starts_with("APPROVAL_") => 3,
        "IDEMPOTENCY_CONFLICT" => 4,
        "STORE_UNAVAILABLE" | "PROCESS_FORKED" => 5,
        c if c.starts_with("ATTESTATION_") || c.starts_with("CHAIN_") => 6,
        _ => 0, // INTERNAL, and any code added later
    }
}

/// The exception class raised for `code`.
pub(crate) fn class_for<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyType>> {
    let all = &classes(py)?.0;
    let [base, ..] = all;
    Ok(all.get(family(code)).unwrap_or(base).bind(py).clone())
}

/// The Python exception for a core error: its family's class, with `code` and `message`.
pub(crate) fn to_py_err(py: Python<'_>, e: &passgate::Error) -> PyErr {
    let code = e.code();
    match class_for(py, code) {
        Ok(class) => PyErr::from_type(class, (code, e.to_string())),
        Err(_) => PyRuntimeError::new_err(format!("{code}: {e}")),
    }
}

/// `?`-friendly conversion of core results.
pub(crate) trait OrRaise<T> {
    /// The value, or the core error raised as its Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, passgate::Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, &e))
    }
}
