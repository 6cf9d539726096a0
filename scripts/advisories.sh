#!/usr/bin/env bash
# `cargo deny check advisories` against a local copy of the RustSec database, never
# fetched: this project's machines reach package registries only. The copy lives where
# deny.toml's `db-path` points, ~/.cargo/advisory-dbs/advisory-db-3157b0e258782691 (the
# directory name cargo-deny derives from the database URL). Without that copy, or
# without cargo-deny, the check is SKIPPED and says so; it never passes silently.
# See docs/decisions/0008-supply-chain-checks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
db="$HOME/.cargo/advisory-dbs/advisory-db-3157b0e258782691"
if [ ! -d "$db/crates" ]; then
  echo "advisories: SKIPPED: no RustSec database at $db (copy one there; see docs/operations.md)"
  exit 0
fi
if ! command -v cargo-deny >/dev/null; then
  echo "advisories: SKIPPED: cargo-deny is not installed (cargo install cargo-deny --locked)"
  exit 0
fi
echo "advisories: RustSec database of $(git -C "$db" log -1 --format=%cs 2>/dev/null || echo 'unknown date') at $db"
# cargo-deny's --offline also stops cargo from downloading crates for `cargo metadata`.
cargo fetch --locked --quiet
cargo deny --offline --locked check advisories
