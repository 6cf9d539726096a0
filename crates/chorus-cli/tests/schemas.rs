//! `schemas/` must match the Rust types; `UPDATE_SCHEMAS=1` (or `make schemas`) rewrites it.

use std::path::PathBuf;

#[test]
fn schemas_match_the_types() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, generated) in chorus_cli::schemas::all() {
        let path = root.join(&name);
        if update {
            std::fs::create_dir_all(path.parent().expect("schema dir")).expect("create schemas dir");
            std::fs::write(&path, &generated).expect("write schema");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            drifted.push(name);
        }
    }
    assert!(drifted.is_empty(), "schemas drifted from the types: {drifted:?}; run `make schemas` and commit");
}
