# passgate — the two commands: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: demo test test-rust lint bench clean

demo:
	$(CARGO) build --workspace
	$(CARGO) run -q -p passgate --example quickstart

test: lint test-rust

test-rust:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p passgate --bench engine

clean:
	$(CARGO) clean
