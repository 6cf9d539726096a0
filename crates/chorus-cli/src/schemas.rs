//! JSON Schemas generated from the Rust types, kept in `schemas/`.
//!
//! Outside tools validate config files and exports against them. The test
//! `tests/schemas.rs` regenerates every schema and fails when a committed file drifts
//! from the types; `make schemas` rewrites them.

use crate::registry::registry;

/// Every schema: (path under `schemas/`, pretty JSON with a trailing newline).
pub fn all() -> Vec<(String, String)> {
    let mut out = vec![
        ("config.json".to_owned(), render(schemars::schema_for!(chorus_config::Config))),
        ("item.json".to_owned(), render(schemars::schema_for!(chorus_core::Item))),
        ("account.json".to_owned(), render(schemars::schema_for!(chorus_core::Account))),
        ("record.json".to_owned(), render(schemars::schema_for!(chorus_core::Record))),
        ("openapi.json".to_owned(), pretty(&chorus_server::openapi::json())),
    ];
    for factory in registry().factories() {
        out.push((format!("connectors/{}.json", factory.kind()), render(factory.settings_schema())));
    }
    out
}

fn render(schema: schemars::Schema) -> String {
    pretty(&schema)
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
