# The commands a newcomer types. `make demo` runs Chorus against built-in simulators;
# `make test` runs every test (the PostgreSQL suite too when CHORUS_TEST_PG_URL is set).

CARGO_TARGET_DIR ?= $(HOME)/.cache/chorus-target
export CARGO_TARGET_DIR
BENCH_N ?= 1000000
export BENCH_N
# Where the search benchmark leaves its store and index for the HTTP phase (emptied first).
BENCH_SEARCH_DIR ?= $(CARGO_TARGET_DIR)/bench-search

.PHONY: demo test bench lint advisories fmt schemas tools

## tools: check for cargo and install cargo-nextest if it is missing; check for the
## headless browser the web UI test drives (Debian `chromium` and `chromium-driver`),
## installing it with apt when run as root
tools:
	@command -v cargo >/dev/null || { echo "make: cargo is required: install Rust from https://rustup.rs (rustup default stable)"; exit 1; }
	@cargo nextest --version >/dev/null 2>&1 || { echo "make: installing cargo-nextest (one time)"; cargo install cargo-nextest --locked; }
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing chromium and chromium-driver for the browser test (one time)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "make: the web UI browser test needs Chromium and its driver: sudo apt-get install chromium chromium-driver"; exit 1; \
	  fi; \
	fi

## demo: sync the built-in simulators of the four sources, then serve on 127.0.0.1:8080
demo: tools
	cargo run -p chorus-cli --bin chorus -- demo

## test: every test; set CHORUS_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test for PostgreSQL
test: tools
	@if [ -z "$$CHORUS_TEST_PG_URL" ]; then echo "make: CHORUS_TEST_PG_URL not set: PostgreSQL tests will print that they skipped"; fi
	cargo build -p chorus-cli --bin chorus
	cargo nextest run --workspace --no-fail-fast

## bench: search benchmark against SQLite FTS5, then the same searches over HTTP at 1, 8 and 32
## clients while a sync commits (on the store and index the first left in BENCH_SEARCH_DIR),
## then request ranking against a SQL GROUP BY (BENCH_N items each); writes docs/benchmarks.md
bench: tools
	rm -rf "$(BENCH_SEARCH_DIR)"
	BENCH_DIR="$(BENCH_SEARCH_DIR)" cargo run --release -p chorus-index --example bench
	BENCH_DIR="$(BENCH_SEARCH_DIR)" cargo run --release -p chorus-server --example http_bench
	cargo run --release -p chorus-store --example rank_requests

## lint: formatting, clippy and the advisory check, as reviewers expect them
lint: advisories
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## advisories: cargo deny check advisories on a local RustSec copy (says SKIPPED without one)
advisories:
	@scripts/advisories.sh

fmt:
	cargo fmt --all

## schemas: regenerate schemas/ from the Rust types (a test fails when they drift)
schemas:
	UPDATE_SCHEMAS=1 cargo nextest run -p chorus-cli schemas
