# passgate — the two commands: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: demo test test-rust lint bench clean demo-node test-node node-build

demo: demo-node
	$(CARGO) build --workspace
	$(CARGO) run -q -p passgate --example quickstart

test: lint test-rust test-node

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

# ---- Node package (bindings-node/): `npm install` (not `npm ci`: the lockfile holds only this
# ---- platform's optional entries), then a release build of the native module next to index.js.
NPM ?= npm
NODE ?= node
NODE_DIR := bindings-node

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && $(NPM) install --no-audit --no-fund && touch node_modules/.package-lock.json

node-build: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && npx napi build --platform --release

demo-node: node-build
	$(NODE) examples/node/quickstart.mjs

test-node: node-build
	cd $(NODE_DIR) && $(NODE) --test __test__/
	cd $(NODE_DIR) && npx tsc -p __test__/consumer/tsconfig.json
