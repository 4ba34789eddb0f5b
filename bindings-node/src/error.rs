//! Errors: every failure reaches JavaScript as an `Error` whose `.code` is one of the core's
//! stable codes (`POLICY_INVALID`, `PAYLOAD_INVALID`, …, see `passgate::Error::CODES`) and whose
//! `.path` is the core's `Error::path()` (the JSON pointer the error is at) or `null`.
//!
//! napi-rs puts the `AsRef<str>` status of an error on `err.code`, so [`Code`] carries the core's
//! code. [`raise`] builds the thrown object itself, to give it its `.path`. A JavaScript
//! exception raised while a value is read (a throwing getter) stays pending and is rethrown as it
//! was.

use napi::bindgen_prelude::{Env, FromNapiValue, JsError, JsObjectValue, JsValue, Object, Unknown};

/// The `.code` of a thrown error: one of the core's stable codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The core's code.
    pub code: &'static str,
    /// The core's `Error::path()`: where in the input the error is.
    pub path: Option<String>,
    /// A JavaScript exception is pending (a getter threw while an argument was read): it, not
    /// this error, is what JavaScript sees, and it must be thrown before anything else runs.
    pub js_exception: bool,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.code
    }
}

/// An error on its way to JavaScript.
pub type Error = napi::Error<Code>;
/// The result of every binding call.
pub type Result<T> = std::result::Result<T, Error>;

/// A core error, with its code, message and path.
pub fn core(e: passgate::Error) -> Error {
    napi::Error::new(
        Code {
            code: e.code(),
            path: e.path().map(str::to_string),
            js_exception: false,
        },
        e.to_string(),
    )
}

/// A malformed argument (`INVALID_ARGUMENT`) with no particular path.
pub fn invalid(message: impl Into<String>) -> Error {
    core(passgate::Error::InvalidArgument(message.into()))
}

/// A malformed argument (`INVALID_ARGUMENT`) at `path` (a JSON pointer such as `/holdId`).
pub fn argument(path: impl Into<String>, message: impl Into<String>) -> Error {
    core(passgate::Error::argument(path, message))
}

/// A failure of napi itself while reading an argument: a value of an unexpected type, or a
/// JavaScript exception (which stays pending and is what JavaScript sees).
pub fn napi(e: napi::Error) -> Error {
    let mut out = invalid(e.reason.clone());
    out.status.js_exception = e.status == napi::Status::PendingException;
    out
}

/// A JavaScript exception caught by napi (a host function that threw), thrown again as it was.
pub fn rethrow(env: &Env, e: napi::Error) -> Error {
    if e.status == napi::Status::PendingException {
        return napi(e);
    }
    let mut out = invalid(e.reason.clone());
    let obj: Unknown<'_> = JsError::from(e).into_unknown(Env::from_raw(env.raw()));
    if env.throw(obj).is_ok() {
        out.status.js_exception = true;
    }
    out
}

/// Extension: `.js()?` turns a core result into a binding result.
pub trait CoreResult<T> {
    /// Maps the core error to its JavaScript error.
    fn js(self) -> Result<T>;
}

impl<T> CoreResult<T> for passgate::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(core)
    }
}

/// Extension: `.napi()?` turns a napi result into a binding result.
pub trait NapiResult<T> {
    /// Maps the napi error to `INVALID_ARGUMENT` (a pending JS exception wins).
    fn napi(self) -> Result<T>;
}

impl<T> NapiResult<T> for napi::Result<T> {
    fn napi(self) -> Result<T> {
        self.map_err(napi)
    }
}

/// The JS `Error` object of `e`: `.message`, `.code` and `.path` (`null` when the error has none).
fn to_object<'e>(env: &'e Env, e: Error) -> napi::Result<Unknown<'e>> {
    let path = e.status.path.clone();
    let obj: Unknown<'_> = JsError::from(e).into_unknown(Env::from_raw(env.raw()));
    let mut o = Object::from_unknown(obj)?;
    o.set_named_property("path", path.as_deref())?;
    Ok(o.to_unknown())
}

/// Throws `e` as its JS `Error` (with `.path`) and returns the error napi-rs then rethrows as is
/// (a pending exception). For every method with an `Env`: `.map_err(|e| raise(env, e))`.
pub fn raise(env: &Env, e: Error) -> Error {
    if e.status.js_exception {
        return e;
    }
    let reason = e.reason.clone();
    let mut status = e.status.clone();
    match to_object(env, e).and_then(|obj| env.throw(obj)) {
        Ok(()) => {
            status.js_exception = true;
            napi::Error::new(status, reason)
        }
        Err(_) => napi::Error::new(status, reason),
    }
}

/// For promise rejections built by hand (async tasks resolve with `Status` errors): a JS `Error`
/// object carrying `.code` and `.path`, wrapped so napi rejects with exactly that object.
pub fn to_status_error(env: &Env, e: Error) -> napi::Error {
    let reason = e.reason.clone();
    match to_object(env, e) {
        Ok(obj) => {
            let mut out = napi::Error::from(obj);
            if out.reason.is_empty() {
                out.reason = reason;
            }
            out
        }
        Err(err) => err,
    }
}
