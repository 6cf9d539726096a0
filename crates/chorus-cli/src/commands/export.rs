//! `chorus export`: JSON Lines on stdout, one object a line, in id order. Requests carry
//! their place in the ranking, score, counts and top accounts (`docs/requests.md`).

use std::io::Write;
use std::path::Path;

use chorus_store::{IdPage, ItemFilter, Raw};

use std::collections::HashMap;

use chorus_core::priority::{Counts, Ranked};
use chorus_core::{PriorityModel, Request};
use serde::Serialize;

use super::requests::{account_names, rank, top_accounts, Demands, TopAccount};
use crate::cli::Entity;
use crate::runtime::App;

const BATCH: u32 = 1000;

pub async fn run(
    config: Option<&Path>,
    what: Entity,
    include_deleted: bool,
    connector: Option<String>,
) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    match write_all(&app, what, include_deleted, connector).await {
        // The reader went away (`chorus export items | head`): not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}

async fn write_all(app: &App, what: Entity, include_deleted: bool, connector: Option<String>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after_id = 0;
    let mut ranking: Option<RequestRanking> = None;
    loop {
        let page = IdPage { after_id, limit: BATCH };
        let (rows, last) = match what {
            Entity::Items => {
                let filter = ItemFilter { connector: connector.clone(), include_deleted, raw: Raw::Include };
                let items = app.store.items(&filter, page).await?;
                let last = items.last().map(|i| i.id);
                (items.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
            Entity::Accounts => {
                let accounts = app.store.accounts(page).await?;
                let last = accounts.last().map(|a| a.id);
                (accounts.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
            Entity::Requests => {
                let ranking = match &ranking {
                    Some(ranking) => ranking,
                    None => ranking.insert(RequestRanking::load(app).await?),
                };
                let requests = app.store.requests(page).await?;
                let last = requests.last().map(|r| r.id);
                let rows = ranking.rows(app, &requests).await?;
                (rows.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
        };
        for row in rows {
            writeln!(out, "{row}")?;
        }
        match last {
            Some(id) => after_id = id,
            None => break,
        }
    }
    out.flush()?;
    Ok(())
}

/// One exported request: the request's own fields, then its ranking (`rank`, `score`
/// and the rest are null for a merged request, which is not ranked).
#[derive(Serialize)]
struct RequestRow<'a> {
    #[serde(flatten)]
    request: &'a Request,
    rank: Option<usize>,
    score: Option<f64>,
    accounts_total: Option<f64>,
    pipeline_total: Option<f64>,
    counts: Option<Counts>,
    /// The three accounts contributing most, largest first.
    top_accounts: Vec<TopAccount>,
}

/// The whole ranking, computed once per export.
struct RequestRanking {
    model: PriorityModel,
    places: HashMap<i64, (usize, Ranked)>,
    demands: Demands,
}

impl RequestRanking {
    async fn load(app: &App) -> anyhow::Result<Self> {
        let (model, ranked, demands) = rank(app, None).await?;
        let places = ranked.into_iter().enumerate().map(|(n, r)| (r.request_id, (n + 1, r))).collect();
        Ok(Self { model, places, demands })
    }

    /// The rows of a page of requests; the top accounts' names are read in one lookup.
    async fn rows<'a>(&self, app: &App, requests: &'a [Request]) -> anyhow::Result<Vec<RequestRow<'a>>> {
        let mut scores = Vec::with_capacity(requests.len());
        for request in requests {
            scores.push(self.demands.get(&request.id).map(|demand| self.model.score(demand)).transpose()?);
        }
        let ids: Vec<i64> =
            scores.iter().flatten().flat_map(|score| score.accounts.iter().take(3).map(|f| f.account_id)).collect();
        let names = account_names(app.store.as_ref(), &ids).await?;
        Ok(requests
            .iter()
            .zip(scores)
            .map(|(request, score)| {
                let place = self.places.get(&request.id);
                RequestRow {
                    request,
                    rank: place.map(|(n, _)| *n),
                    score: place.map(|(_, r)| r.score),
                    accounts_total: place.map(|(_, r)| r.accounts_total),
                    pipeline_total: place.map(|(_, r)| r.pipeline_total),
                    counts: place.map(|(_, r)| r.counts),
                    top_accounts: score.map(|score| top_accounts(&score, &names, 3)).unwrap_or_default(),
                }
            })
            .collect())
    }
}
