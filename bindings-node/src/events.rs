//! `engine.subscribe(filter, fn)`: in-process callbacks for decision events through a napi
//! threadsafe function. The core calls the subscriber after each commit on the deciding thread
//! (a libuv worker for the async forms, the JS thread for the sync ones); the event's JSON text is
//! queued to the JS thread without blocking ([`ThreadsafeFunctionCallMode::NonBlocking`]) and
//! passgate.js parses it and calls the host's function (catching what it throws). The function
//! is weak: a subscription alone never keeps the process alive.

use std::sync::Mutex;

use napi::bindgen_prelude::{Env, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use passgate::{DecisionEvent, EventFilter, EventKind};

use crate::engine::Engine;
use crate::error::{self, NapiResult, Result};

/// A subscription made by `subscribeEvents` (passgate.js's `subscribe` returns a function that
/// closes it).
#[napi]
pub struct EventSubscription {
    inner: Mutex<Option<passgate::Subscription>>,
}

#[napi]
impl EventSubscription {
    /// Ends the subscription: the function is not called again. Closing twice is harmless.
    #[napi]
    pub fn close(&self) {
        let taken = self.inner.lock().map(|mut s| s.take()).unwrap_or(None);
        drop(taken);
    }

    /// Whether it was closed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.lock().map(|s| s.is_none()).unwrap_or(true)
    }
}

#[napi]
impl Engine {
    /// The native half of passgate.js's `subscribe(filter, fn)`: `callback` receives each event
    /// as JSON text.
    #[napi(
        ts_args_type = "callback: (eventJson: string) => void, kinds?: string[] | null, sessionId?: string | null"
    )]
    pub fn subscribe_events(
        &self,
        env: &Env,
        callback: Function<'_, String, ()>,
        kinds: Option<Vec<String>>,
        session_id: Option<String>,
    ) -> Result<EventSubscription> {
        self.subscribe_with(callback, kinds, session_id)
            .map_err(|e| error::raise(env, e))
    }
}

impl Engine {
    fn subscribe_with(
        &self,
        callback: Function<'_, String, ()>,
        kinds: Option<Vec<String>>,
        session_id: Option<String>,
    ) -> Result<EventSubscription> {
        let kinds = kinds
            .map(|ks| {
                ks.iter()
                    .enumerate()
                    .map(|(i, k)| {
                        EventKind::parse(k).ok_or_else(|| {
                            error::argument(
                                format!("/kinds/{i}"),
                                format!(
                                    "{k:?} is not an event kind (escalation, deny, hold.expired, \
                                     approval.resolved, policy.changed)"
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<EventKind>>>()
            })
            .transpose()?;
        let tsfn = callback
            .build_threadsafe_function::<String>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()
            .napi()?;
        let sub = self.inner.subscribe(
            EventFilter { kinds, session_id },
            Box::new(move |event: &DecisionEvent| {
                let text = event.to_json().to_string();
                // Queued, never blocking the deciding thread; a closing environment drops it.
                let _ = tsfn.call(text, ThreadsafeFunctionCallMode::NonBlocking);
            }),
        );
        Ok(EventSubscription {
            inner: Mutex::new(Some(sub)),
        })
    }
}
