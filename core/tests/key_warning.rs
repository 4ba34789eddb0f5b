//! A persistent store without a configured signing key: the engine warns (its records outlive
//! its key); with a key, or on the memory store, it does not. Its own test binary: it installs
//! the process's one `log` logger.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // a test

use std::sync::Mutex;

use passgate::{Engine, KeyPair};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn {
            LINES.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn warnings_of(build: impl FnOnce() -> Engine) -> Vec<String> {
    LINES.lock().unwrap().clear();
    let engine = build();
    engine.close();
    std::mem::take(&mut *LINES.lock().unwrap())
}

#[test]
fn a_persistent_store_without_a_signing_key_warns() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.db", dir.path().display());
    let w = warnings_of(|| Engine::builder().store_url(&url).build().unwrap());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("persistent store without a configured signing key"));
    let w = warnings_of(|| {
        Engine::builder()
            .store_url(&url)
            .signing_key(KeyPair::generate().unwrap())
            .build()
            .unwrap()
    });
    assert!(w.is_empty(), "{w:?}");
    let w = warnings_of(|| Engine::builder().build().unwrap());
    assert!(w.is_empty(), "{w:?}");
}
