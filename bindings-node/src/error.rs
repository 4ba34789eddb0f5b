//! Errors: every failure reaches JavaScript as an `Error` whose `.code` is one of the core's
//! stable codes (`POLICY_INVALID`, `PAYLOAD_INVALID`, …, see `passgate::Error::CODES`).
//!
//! napi-rs puts the `AsRef<str>` status of an error on `err.code`, so [`Code`] carries the core's
//! code. A JavaScript exception raised while a value is read (a throwing getter) stays pending
//! and is rethrown as it was.

use napi::bindgen_prelude::{Env, JsError, Unknown};

/// The `.code` of a thrown error: one of the core's stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The core's code.
    pub code: &'static str,
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

/// A core error, with its code and message.
pub fn core(e: passgate::Error) -> Error {
    napi::Error::new(
        Code {
            code: e.code(),
            js_exception: false,
        },
        e.to_string(),
    )
}

/// A malformed argument (`INVALID_ARGUMENT`).
pub fn invalid(message: impl Into<String>) -> Error {
    core(passgate::Error::InvalidArgument(message.into()))
}

/// A failure of napi itself while reading an argument: a value of an unexpected type, or a
/// JavaScript exception (which stays pending and is what JavaScript sees).
pub fn napi(e: napi::Error) -> Error {
    let mut out = invalid(e.reason.clone());
    out.status.js_exception = e.status == napi::Status::PendingException;
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

/// For promise rejections built by hand (async tasks resolve with `Status` errors): a JS `Error`
/// object carrying `.code`, wrapped so napi rejects with exactly that object.
pub fn to_status_error(env: &Env, e: Error) -> napi::Error {
    let reason = e.reason.clone();
    let obj: Unknown<'_> = JsError::from(e).into_unknown(Env::from_raw(env.raw()));
    let mut out = napi::Error::from(obj);
    if out.reason.is_empty() {
        out.reason = reason;
    }
    out
}
