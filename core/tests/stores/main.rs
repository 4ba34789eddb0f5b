//! The state stores — memory, SQLite, Redis — held to one contract: a conformance suite run
//! against each, a differential property test against the memory store, multi-process races for
//! one cap, SIGKILL crash safety, restarts, and what every store indexes (sessions, bundles, the
//! shared policy). Redis tests start their own `redis-server` on a free
//! loopback port (and fail, not skip, if they cannot).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod api_keys;
mod bundles;
mod calendar_reopen;
mod catalogs;
mod chain_break;
mod checkpoint_crash;
mod concurrency;
mod conformance;
mod counter_walks;
mod crash;
mod differential;
mod engine_suite;
mod failures;
mod folded;
mod hold_sweeps;
mod pop;
mod records_as_bytes;
mod redis_keys;
mod registry;
mod restart;
mod retention;
mod sessions;
mod settlements;
mod shared_policy;
mod sliding_legacy;
mod soak;
mod support;
mod workers;

/// Entry point of worker processes (this binary run again with `PASSGATE_STORE_WORKER` set);
/// passes trivially in a normal run.
#[test]
fn worker_process() {
    if let Ok(spec) = std::env::var(workers::ENV) {
        workers::run(&serde_json::from_str(&spec).unwrap());
    }
}

macro_rules! conformance {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $test() {
                    let (store, _guard) = crate::support::$backend();
                    crate::conformance::$test(store.as_ref());
                }
            )*
            #[test]
            fn engine_caps_idempotency_revocation_attestations() {
                let (store, _guard) = crate::support::$backend();
                crate::engine_suite::caps_idempotency_revocation_attestations(store);
            }
            #[test]
            fn engine_holds_and_approvals() {
                let (store, _guard) = crate::support::$backend();
                crate::engine_suite::holds_and_approvals(store);
            }
            #[test]
            fn engine_one_counter_named_twice_in_a_request() {
                let (store, _guard) = crate::support::$backend();
                crate::engine_suite::one_counter_named_twice_in_a_request(store);
            }
            #[test]
            fn engine_settle_above_the_cap_records_the_overrun() {
                let (store, _guard) = crate::support::$backend();
                crate::engine_suite::settle_above_the_cap_records_the_overrun(store);
            }
            #[test]
            fn engine_expire_holds_in_bounded_batches() {
                let (store, _guard) = crate::support::$backend();
                crate::hold_sweeps::expire_holds_in_bounded_batches(store);
            }
        }
    };
}

macro_rules! all_backends {
    ($($test:ident),* $(,)?) => {
        conformance!(memory: $($test),*);
        conformance!(sqlite: $($test),*);
        conformance!(redis: $($test),*);
    };
}

all_backends!(
    fixed_windows_count_and_roll,
    fixed_windows_never_move_backwards,
    sliding_windows_are_exact,
    sliding_windows_with_a_clock_that_steps_back,
    sliding_usage_is_zero_long_after_its_window,
    forever_counters_never_reset,
    all_or_nothing,
    one_counter_twice_in_a_commit_is_refused,
    idempotency_replays_before_bounds,
    approvals_are_single_use,
    holds_settle_release_expire,
    holds_adjust_in_their_own_window,
    holds_settle_past_their_cap_only_when_told,
    revocation,
    attestations_filter_and_order,
    reset_and_state,
    counter_pages_walk_exactly_the_listing,
    counter_pages_while_counters_are_added,
    counter_pages_while_another_thread_adds,
    reset_by_filter_touches_only_matching,
    calendar_windows_count_and_roll,
    calendar_windows_of_different_zones_and_units_are_apart,
    calendar_windows_never_move_backwards,
    calendar_holds_adjust_in_their_own_window,
    calendar_windows_refuse_times_out_of_range,
    sliding_logs_stay_bounded_and_never_under_count,
    sliding_hold_adjustments_merge_within_the_bound,
);
