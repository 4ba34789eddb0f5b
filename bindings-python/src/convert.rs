//! Python objects ⇄ `serde_json::Value`, by walking them (no JSON text in between).
//!
//! Into JSON: `str`; `bool` (checked before `int`, its base class); `int` of any size, exactly;
//! `float` as its shortest round-trip decimal (NaN and ±infinity are refused); `decimal.Decimal`
//! exactly (NaN and infinities refused); `list` / `tuple` as arrays; `dict` with `str` keys as
//! objects (`dict` subclasses and other `collections.abc.Mapping`s through `.items()`, so an
//! overridden `items` is what is read); `None` as null; a `str` holding a lone surrogate is
//! refused at its path (never a `UnicodeEncodeError`). Floats are written as their shortest
//! round-trip decimal, with an exponent where JavaScript writes one (`1e-300`, 6 bytes). Anything else is
//! refused with the JSON Pointer of where it was. The walk is bounded by the same size and depth
//! limits as the core's parser, so a self-referencing list or a huge shared structure ends in
//! `LIMIT_EXCEEDED` instead of hanging.
//!
//! Out of JSON: numbers become `int` when integral, `float` when the float's shortest decimal is
//! exactly the number, and `decimal.Decimal` otherwise (so `0.1000000000000000001` stays exact).

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use passgate::__private::json::{normalize_number, Limits};
use passgate::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Number, Value};

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INT_REPR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// What a converted value is, so a refusal carries that context's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// A request payload: `PAYLOAD_INVALID`.
    Payload,
    /// A policy document: `POLICY_INVALID`.
    Policy,
    /// An attestation record: `ATTESTATION_MALFORMED`.
    Attestation,
    /// Any other argument (trace, caveats, event data, filters), named: `INVALID_ARGUMENT` at
    /// `/name/...`.
    Argument(&'static str),
    /// A whole object of operation arguments: `INVALID_ARGUMENT` at `/name/...`.
    Arguments,
}

/// Why a walk stopped.
enum Stop {
    /// Not representable as JSON: at a path, with a reason.
    Invalid(String, String),
    /// Beyond the size or depth bound.
    Limit(String),
    /// A Python exception raised while reading the object (e.g. by a `__str__`).
    Py(PyErr),
}

/// One step of the path to the value being read.
enum Seg {
    /// An object member: its key, moved here while its value is read and moved back after.
    Key(String),
    /// An array element.
    Index(usize),
}

struct Walk {
    limits: Limits,
    size: usize,
    /// Where the walk is. Kept as steps, not text: the JSON Pointer is written only when a value
    /// is refused (a payload that converts, the common case, never needs it).
    path: Vec<Seg>,
}

impl Walk {
    fn grow(&mut self, n: usize) -> Result<(), Stop> {
        self.size = self.size.saturating_add(n);
        if self.size > self.limits.max_bytes {
            return Err(Stop::Limit(format!(
                "input larger than {} bytes",
                self.limits.max_bytes
            )));
        }
        Ok(())
    }

    fn invalid(&self, why: impl Into<String>) -> Stop {
        Stop::Invalid(self.pointer(), why.into())
    }

    /// The JSON Pointer of [`Self::path`] (`/` for the top).
    fn pointer(&self) -> String {
        if self.path.is_empty() {
            return "/".to_string();
        }
        let mut at = String::new();
        for seg in &self.path {
            at.push('/');
            match seg {
                Seg::Key(key) => {
                    for c in key.chars() {
                        match c {
                            '~' => at.push_str("~0"),
                            '/' => at.push_str("~1"),
                            c => at.push(c),
                        }
                    }
                }
                Seg::Index(i) => {
                    let _ = write!(at, "{i}");
                }
            }
        }
        at
    }

    /// Reads the value of member `key`; returns the key (moved back out of the path) and value.
    fn member(
        &mut self,
        key: String,
        v: &Bound<'_, PyAny>,
        depth: usize,
    ) -> Result<(String, Value), Stop> {
        self.path.push(Seg::Key(key));
        let v = self.value(v, depth + 1)?;
        match self.path.pop() {
            Some(Seg::Key(key)) => Ok((key, v)),
            // The walk pops what it pushed, so a key is there; if not, refuse rather than guess.
            _ => Err(self.invalid("the walk lost its place (a bug in passgate)")),
        }
    }

    /// Reads element `i`.
    fn element(&mut self, i: usize, item: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Stop> {
        self.path.push(Seg::Index(i));
        let v = self.value(item, depth + 1)?;
        self.path.pop();
        Ok(v)
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Stop> {
        let py = obj.py();
        if let Ok(s) = obj.cast::<PyString>() {
            let s = self.text(s)?;
            self.grow(s.len() + 2)?;
            return Ok(Value::String(s));
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            self.grow(5)?;
            return Ok(Value::Bool(b.is_true()));
        }
        if let Ok(i) = obj.cast::<PyInt>() {
            let n = match i.extract::<i64>() {
                Ok(v) => Number::from(v),
                Err(_) => Number::from_string_unchecked(big_int_text(i).map_err(|e| {
                    if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) {
                        self.invalid("integer too large to represent exactly")
                    } else {
                        Stop::Py(e)
                    }
                })?),
            };
            self.grow(n.as_str().len())?;
            return Ok(Value::Number(n));
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            let v = f.value();
            if !v.is_finite() {
                return Err(self.invalid(format!(
                    "{} is not a number JSON can hold (NaN and infinities are refused)",
                    if v.is_nan() {
                        "NaN"
                    } else if v > 0.0 {
                        "inf"
                    } else {
                        "-inf"
                    }
                )));
            }
            let n = Number::from_string_unchecked(float_text(v));
            self.grow(n.as_str().len())?;
            return Ok(Value::Number(n));
        }
        // Exactly `dict`: read its storage. A `dict` subclass may override `items` (and
        // `__getitem__`): it is read through `.items()`, like any other Mapping.
        if let Ok(d) = obj.cast_exact::<PyDict>() {
            self.open(depth)?;
            self.grow(2)?;
            let mut map = Map::with_capacity(d.len());
            for (k, v) in d.iter() {
                let Ok(k) = k.cast::<PyString>() else {
                    let ty = type_name(&k);
                    return Err(self.invalid(format!("object keys must be str, not {ty}")));
                };
                let k = self.text(k)?;
                self.grow(k.len() + 4)?;
                let (k, v) = self.member(k, &v, depth)?;
                if map.insert(k, v).is_some() {
                    return Err(self.invalid("duplicate key (two str keys with the same text)"));
                }
            }
            return Ok(Value::Object(map));
        }
        if let Ok(l) = obj.cast::<PyList>() {
            self.open(depth)?;
            self.grow(2)?;
            let mut out = Vec::with_capacity(l.len());
            // Index-based: a list mutated by a callback during the walk cannot break the loop.
            let mut i = 0;
            while i < l.len() {
                let item = l.get_item(i).map_err(Stop::Py)?;
                self.grow(1)?;
                out.push(self.element(i, &item, depth)?);
                i += 1;
            }
            return Ok(Value::Array(out));
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            self.open(depth)?;
            self.grow(2 + t.len())?;
            let mut out = Vec::with_capacity(t.len());
            for (i, item) in t.iter().enumerate() {
                out.push(self.element(i, &item, depth)?);
            }
            return Ok(Value::Array(out));
        }
        if obj.is_none() {
            self.grow(4)?;
            return Ok(Value::Null);
        }
        let decimal = DECIMAL
            .import(py, "decimal", "Decimal")
            .map_err(|e| Stop::Py(e.clone_ref(py)))?;
        if obj.is_instance(decimal).map_err(Stop::Py)? {
            let finite: bool = obj
                .call_method0("is_finite")
                .and_then(|b| b.extract())
                .map_err(Stop::Py)?;
            if !finite {
                return Err(self.invalid("a Decimal NaN or infinity is not a number JSON can hold"));
            }
            // `str(Decimal)` is a JSON number literal (`-1.50`, `1E+3`); checked, not trusted.
            let text = decimal.call_method1("__str__", (obj,)).map_err(Stop::Py)?;
            let text = text.cast::<PyString>().map_err(|e| Stop::Py(e.into()))?;
            let text = text.to_cow().map_err(Stop::Py)?.into_owned();
            if !is_number_literal(&text) {
                return Err(self.invalid(format!("Decimal {text:?} is not a decimal number")));
            }
            self.grow(text.len())?;
            return Ok(Value::Number(Number::from_string_unchecked(text)));
        }
        let mapping = MAPPING
            .import(py, "collections.abc", "Mapping")
            .map_err(|e| Stop::Py(e.clone_ref(py)))?;
        if obj.is_instance(mapping).map_err(Stop::Py)? {
            // Any other mapping (MappingProxyType, a custom Mapping): read through `.items()`.
            return self.map_items(obj, depth);
        }
        let ty = type_name(obj);
        Err(self.invalid(format!(
            "{ty} is not JSON (expected dict or another Mapping, list, tuple, str, int, float, \
             bool, Decimal or None)"
        )))
    }

    fn map_items(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Stop> {
        self.open(depth)?;
        self.grow(2)?;
        let mut map = Map::new();
        let items = obj.call_method0("items").map_err(Stop::Py)?;
        for pair in items.try_iter().map_err(Stop::Py)? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                pair.and_then(|p| p.extract()).map_err(Stop::Py)?;
            let Ok(k) = k.cast::<PyString>() else {
                let ty = type_name(&k);
                return Err(self.invalid(format!("object keys must be str, not {ty}")));
            };
            let k = self.text(k)?;
            self.grow(k.len() + 4)?;
            let (k, v) = self.member(k, &v, depth)?;
            if map.insert(k, v).is_some() {
                return Err(self.invalid("duplicate key (two str keys with the same text)"));
            }
        }
        Ok(Value::Object(map))
    }

    /// The text of a `str`; one holding a lone surrogate (not Unicode text) is refused where it
    /// is, instead of raising `UnicodeEncodeError`.
    fn text(&self, s: &Bound<'_, PyString>) -> Result<String, Stop> {
        s.to_cow()
            .map(|c| c.into_owned())
            .map_err(|_| self.invalid("a string with a lone surrogate (not valid Unicode text)"))
    }

    fn open(&self, depth: usize) -> Result<(), Stop> {
        if depth >= self.limits.max_depth {
            return Err(Stop::Limit(format!(
                "nesting deeper than {} levels (or a structure that contains itself)",
                self.limits.max_depth
            )));
        }
        Ok(())
    }
}

/// The shortest round-trip decimal of a finite `v`, in exponent form where JavaScript writes
/// one (magnitude at least 1e21 or below 1e-6): `1e-300`, not 300 zeros; `100` stays `100`.
pub(crate) fn float_text(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `int.__repr__(i)`: the decimal text of any int, subclasses (enums) included.
fn big_int_text(i: &Bound<'_, PyInt>) -> PyResult<String> {
    let py = i.py();
    let repr = INT_REPR.get_or_try_init(py, || {
        py.get_type::<PyInt>()
            .getattr("__repr__")
            .map(Bound::unbind)
    })?;
    repr.bind(py).call1((i,))?.extract()
}

/// A JSON number literal: `-?digits(.digits)?([eE][+-]?digits)?`.
fn is_number_literal(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => b.split_at(i),
        None => (b, ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    let (int, frac) = mant.split_once('.').unwrap_or((mant, "0"));
    let exp_ok = exp.is_empty() || {
        let e = exp.get(1..).unwrap_or("");
        digits(e.strip_prefix(['+', '-']).unwrap_or(e))
    };
    digits(int) && digits(frac) && exp_ok
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

thread_local! {
    /// Set while [`quietly`] runs on this thread: the panic hook stays silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once, at import) a panic hook that prints nothing for a panic [`quietly`] catches
/// and reports as an error, and defers to the previous hook for every other panic.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic (reported by the caller as an error) without printing it.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let before = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(before));
    r
}

/// Converts `obj` to JSON for `ctx`, or raises the passgate error (or the Python exception that
/// reading it raised).
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, ctx: Ctx) -> PyResult<Value> {
    let py = obj.py();
    let limits = if ctx == Ctx::Policy {
        Limits::POLICY
    } else {
        Limits::PAYLOAD
    };
    let mut walk = Walk {
        limits,
        size: 0,
        path: Vec::new(),
    };
    // A dict mutated while being read (only possible from a callback such as a Decimal subclass's
    // `__str__`) makes PyO3's iterator panic: report it as invalid input instead.
    let result = quietly(|| walk.value(obj, 0)).unwrap_or_else(|_| {
        Err(Stop::Invalid(
            "/".into(),
            "the object changed while it was being read".into(),
        ))
    });
    match result {
        Ok(v) => Ok(v),
        Err(Stop::Py(e)) => Err(e),
        Err(Stop::Limit(m)) => Err(crate::errors::to_py_err(py, &Error::LimitExceeded(m))),
        Err(Stop::Invalid(path, m)) => {
            let e = match ctx {
                Ctx::Payload => Error::payload(path, m),
                Ctx::Policy => Error::policy(path, m),
                Ctx::Attestation => Error::AttestationMalformed(format!("at {path}: {m}")),
                Ctx::Argument(name) => Error::argument(argument_path(name, &path), m),
                Ctx::Arguments => Error::argument(path, m),
            };
            Err(crate::errors::to_py_err(py, &e))
        }
    }
}

/// The JSON Pointer of `path` (within argument `name`) among an operation's arguments:
/// `/ttl`, `/trace/user`.
pub(crate) fn argument_path(name: &str, path: &str) -> String {
    if path == "/" {
        format!("/{name}")
    } else {
        format!("/{name}{path}")
    }
}

/// Converts a JSON value to Python: objects → `dict`, arrays → `list`, numbers → `int`, `float`
/// or `Decimal` (see the module doc).
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Number(n) => number_to_py(py, n)?,
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(to_py(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let dict = PyDict::new(py);
            for (k, x) in o {
                dict.set_item(k, to_py(py, x)?)?;
            }
            dict.into_any()
        }
    })
}

fn number_to_py<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(i) = n.as_i64() {
        return Ok(PyInt::new(py, i).into_any());
    }
    if let Some(u) = n.as_u64() {
        return Ok(PyInt::new(py, u).into_any());
    }
    let lit = n.as_str();
    let decimal = || -> PyResult<Bound<'py, PyAny>> {
        DECIMAL.import(py, "decimal", "Decimal")?.call1((lit,))
    };
    let Ok(norm) = normalize_number(lit) else {
        return decimal();
    };
    if !norm.contains('.') {
        return py.get_type::<PyInt>().call1((norm,));
    }
    match lit.parse::<f64>() {
        Ok(f) if f.is_finite() && normalize_number(&format!("{f}")).as_deref() == Ok(&norm) => {
            Ok(PyFloat::new(py, f).into_any())
        }
        _ => decimal(),
    }
}
