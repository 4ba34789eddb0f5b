# passgate — the two commands: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: demo test test-rust lint bench bench-stores deps-test clean

demo:
	$(CARGO) build --workspace
	$(CARGO) run -q -p passgate --example quickstart

test: deps-test lint test-rust

# The store tests start their own redis-server (on a free loopback port): install it from
# Debian's packages if it is missing. Quiet and idempotent; needs root (CI and these machines are).
deps-test:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null; }
	@command -v redis-server >/dev/null || { echo "redis-server is required by the store tests"; exit 1; }

test-rust:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p passgate --bench engine

# Decisions per second on each store (memory, SQLite, Redis), next to each backend's floor.
bench-stores: deps-test
	$(CARGO) bench -p passgate --bench stores

clean:
	$(CARGO) clean
