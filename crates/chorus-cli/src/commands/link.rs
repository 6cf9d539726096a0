//! `chorus link ITEM --account A | --request R`: a person's link, which no sync replaces.

use std::path::Path;

use chorus_core::LinkProvenance;

use crate::cli::LinkArgs;
use crate::runtime::App;

pub async fn run(config: Option<&Path>, args: LinkArgs) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    match (args.account, args.request) {
        (Some(account), None) => {
            app.store.link_item_account(args.item, account).await?;
            println!("item {} linked to account {account} (manual)", args.item);
        }
        (None, Some(request)) => {
            app.store.link_item_request(args.item, request, LinkProvenance::Manual).await?;
            println!("item {} linked to request {request} (manual)", args.item);
        }
        // clap's argument group admits exactly one.
        _ => anyhow::bail!("give exactly one of --account or --request"),
    }
    Ok(())
}
