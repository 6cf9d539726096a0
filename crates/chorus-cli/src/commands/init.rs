//! `chorus init`: write a commented example config.

use std::path::Path;

use anyhow::bail;

pub fn run(config: Option<&Path>, force: bool) -> anyhow::Result<()> {
    let path = chorus_config::locate(config);
    if path.exists() && !force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    std::fs::write(&path, chorus_config::EXAMPLE)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}; edit it, then run `chorus check`", path.display());
    Ok(())
}
