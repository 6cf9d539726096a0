//! Ranking requests from the store: `priority_inputs` read once, a `PriorityModel`
//! built over every account and opportunity, and the demands ranked. The one path the
//! CLI, the export and the HTTP API rank by, so they never disagree.

use std::collections::HashMap;

use chorus_core::priority::{PriorityError, PriorityWeights, Ranked, RequestDemand, Score};
use chorus_core::{ExchangeRates, PriorityModel};
use chrono::{DateTime, Utc};

use crate::{Store, StoreError};

/// Why a ranking failed.
#[derive(Debug, thiserror::Error)]
pub enum RankError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The weights or an amount cannot be used (e.g. a currency without a rate).
    #[error("cannot rank requests: {0}")]
    Priority(#[from] PriorityError),
}

/// Requests ranked highest first, with the model and each request's demand to explain
/// any of them (`Ranking::score`).
pub struct Ranking {
    pub model: PriorityModel,
    pub ranked: Vec<Ranked>,
    pub demands: HashMap<i64, RequestDemand>,
}

impl Ranking {
    /// The full breakdown of one ranked request (`None` when it was not ranked).
    pub fn score(&self, request_id: i64) -> Option<Result<Score, PriorityError>> {
        self.demands.get(&request_id).map(|demand| self.model.score(demand))
    }
}

/// Ranks the live requests among `only` (all when `None`) under `weights`, with
/// amounts in `rates`' reporting currency, as of `now`.
pub async fn rank_requests(
    store: &dyn Store,
    weights: &PriorityWeights,
    rates: &ExchangeRates,
    only: Option<&[i64]>,
    now: DateTime<Utc>,
) -> Result<Ranking, RankError> {
    let inputs = store.priority_inputs(rates.reporting_currency, only).await?;
    let model = PriorityModel::new(weights.clone(), rates.clone(), &inputs.accounts, &inputs.opportunities, now)?;
    let ranked = model.rank(&inputs.demands)?;
    let demands = inputs.demands.into_iter().map(|demand| (demand.request_id, demand)).collect();
    Ok(Ranking { model, ranked, demands })
}
