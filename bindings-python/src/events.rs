//! `Engine.subscribe`: in-process callbacks for decision events, and the handle that ends one.

use std::sync::Mutex;

use passgate::engine::Engine;
use passgate::{DecisionEvent, Error, EventFilter, EventKind, Subscription};
use pyo3::prelude::*;

use crate::convert::to_py;
use crate::errors::to_py_err;

/// A subscription made by `Engine.subscribe`: `close()` (or leaving its `with` block) ends it.
#[pyclass(frozen, module = "passgate", name = "Subscription")]
pub(crate) struct PySubscription {
    inner: Mutex<Option<Subscription>>,
}

#[pymethods]
impl PySubscription {
    /// Ends the subscription: the callback is not called again. Closing twice is harmless.
    fn close(&self) {
        let taken = self.inner.lock().map(|mut s| s.take()).unwrap_or(None);
        drop(taken);
    }

    /// Whether it is still subscribed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().map(|s| s.is_none()).unwrap_or(true)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match self.closed() {
            true => "Subscription(closed)".into(),
            false => "Subscription(open)".into(),
        }
    }
}

/// Logs an exception a callback raised (`logging.getLogger("passgate.events")`), never raising
/// it into the deciding call.
fn log_failure(py: Python<'_>, event: &DecisionEvent, err: &PyErr) {
    let logged = py.import("logging").and_then(|logging| {
        let logger = logging.call_method1("getLogger", ("passgate.events",))?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.clone_ref(py).into_value(py))?;
        logger.call_method(
            "error",
            (
                "passgate: an event subscriber raised on event %s (%s); ignored",
                event.id.as_str(),
                event.kind.as_str(),
            ),
            Some(&kwargs),
        )
    });
    if logged.is_err() {
        err.clone_ref(py).print(py);
    }
}

/// `Engine.subscribe(callback, kinds=None, session_id=None)`.
pub(crate) fn subscribe(
    py: Python<'_>,
    engine: &Engine,
    callback: Py<PyAny>,
    kinds: Option<Vec<String>>,
    session_id: Option<String>,
) -> PyResult<PySubscription> {
    if !callback.bind(py).is_callable() {
        return Err(to_py_err(
            py,
            &Error::argument(
                "/callback",
                "must be callable (it is called with each event dict)",
            ),
        ));
    }
    let kinds = kinds
        .map(|ks| {
            ks.iter()
                .enumerate()
                .map(|(i, k)| {
                    EventKind::parse(k).ok_or_else(|| {
                        to_py_err(
                            py,
                            &Error::argument(
                                format!("/kinds/{i}"),
                                format!(
                                    "{k:?} is not an event kind (escalation, deny, hold.expired, \
                                     approval.resolved, policy.changed)"
                                ),
                            ),
                        )
                    })
                })
                .collect::<PyResult<Vec<EventKind>>>()
        })
        .transpose()?;
    let filter = EventFilter { kinds, session_id };
    let sub = engine.subscribe(
        filter,
        Box::new(move |event: &DecisionEvent| {
            Python::attach(|py| {
                let called = to_py(py, &event.to_json()).and_then(|e| callback.call1(py, (e,)));
                if let Err(err) = called {
                    log_failure(py, event, &err);
                }
            });
        }),
    );
    Ok(PySubscription {
        inner: Mutex::new(Some(sub)),
    })
}
