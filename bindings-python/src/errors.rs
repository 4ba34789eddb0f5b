//! Exceptions: the classes are real Python, in `passgate/errors.py` (one per family of core
//! error codes, all deriving from `PassgateError`); this module imports them once and raises the
//! class of the family the core assigns to each error (`passgate::Error::family`), with the
//! stable `.code`, the `.message` and the `.path` (`passgate::Error::path`, or None).

use passgate::Family;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// `passgate.errors`, imported on first use.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || py.import("passgate.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// The class name of a family (`None`: the base class).
fn class_name(family: Family) -> &'static str {
    family.class_name().unwrap_or("PassgateError")
}

/// Re-exports the exception classes from `passgate._native` (and the deprecated alias).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let errors = module(m.py())?;
    let mut names: Vec<&str> = vec!["PassgateError"];
    names.extend(Family::ALL.iter().filter_map(|f| f.class_name()));
    names.push("IdempotencyConflict");
    for name in names {
        m.add(name, errors.getattr(name)?)?;
    }
    Ok(())
}

/// The exception class raised for `code`: its family's (see `passgate::Family::of`).
pub(crate) fn class_for<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyType>> {
    let name = class_name(Family::of(code));
    Ok(module(py)?.getattr(name)?.cast_into::<PyType>()?)
}

/// The Python exception for a core error: its family's class, with `code`, `message`, `path`.
pub(crate) fn to_py_err(py: Python<'_>, e: &passgate::Error) -> PyErr {
    let code = e.code();
    let class = module(py)
        .and_then(|m| m.getattr(class_name(e.family())))
        .and_then(|c| Ok(c.cast_into::<PyType>()?));
    match class {
        Ok(class) => PyErr::from_type(class, (code, e.to_string(), e.path().map(str::to_string))),
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
