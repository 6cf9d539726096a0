//! Ranking requests from the store: `priority_inputs` read once, a `PriorityModel`
//! built over every account and opportunity, and the demands ranked. The one path the
//! CLI, the export and the HTTP API rank by, so they never disagree. A long-running
//! process keeps its last ranking in a [`RankingCache`]: it ranks again only once the
//! store's change log has moved (every write that can change a score appends to it) or
//! the ranking has aged past a bound (recency decay and renewal windows move with time).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chorus_core::priority::{PackedDemand, PriorityError, PriorityWeights, Ranked, Score};
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
    /// The runtime stopped the model's preparation (it is shutting down).
    #[error("ranking stopped: {0}")]
    Stopped(String),
}

/// Requests ranked highest first, with the model and each request's demand to explain
/// any of them (`Ranking::score`).
pub struct Ranking {
    pub model: PriorityModel,
    pub ranked: Vec<Ranked>,
    pub demands: HashMap<i64, PackedDemand>,
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
    // The model is prepared (on a blocking thread) from the facts as soon as they are
    // read, while the demand rows still stream in on another connection.
    let model = async {
        let (accounts, opportunities) = store.priority_facts(rates.reporting_currency).await?;
        let (weights, rates) = (weights.clone(), rates.clone());
        let prepare = move || PriorityModel::new(weights, rates, &accounts, &opportunities, now);
        let model = match tokio::task::spawn_blocking(prepare).await {
            Ok(model) => model?,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => return Err(RankError::Stopped(error.to_string())),
        };
        Ok::<_, RankError>(model)
    };
    let demands = async { Ok::<_, RankError>(store.priority_demands(only).await?) };
    let (model, demands) = futures::try_join!(model, demands)?;
    let ranked = model.rank(&demands)?;
    let demands = demands.into_iter().map(|demand| (demand.request_id, demand)).collect();
    Ok(Ranking { model, ranked, demands })
}

/// The last full ranking and the change-log position it was read at.
struct Cached {
    position: i64,
    ranked_at: DateTime<Utc>,
    ranking: Arc<Ranking>,
}

/// The server's ranking of every live request, shared by its requests: reused while the
/// store's change log has not moved and it is younger than `max_age`, recomputed (one
/// caller at a time; the others wait and reuse the result) otherwise.
///
/// Invariant: the position is read *before* the ranking, so a write committing during
/// a recomputation makes the cached position older than the data, never newer: the next
/// call ranks again rather than serving a ranking that misses a write.
pub struct RankingCache {
    last: tokio::sync::Mutex<Option<Cached>>,
    max_age: Duration,
}

impl RankingCache {
    /// The bound the server uses: a decay half-life is days, so a minute moves no score
    /// by more than a rounding.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    pub fn new(max_age: Duration) -> Self {
        Self { last: tokio::sync::Mutex::new(None), max_age }
    }

    /// Every live request ranked as of `now` under `weights` and `rates`, which must be
    /// the same on every call (they are the process's configuration).
    pub async fn ranking(
        &self,
        store: &dyn Store,
        weights: &PriorityWeights,
        rates: &ExchangeRates,
        now: DateTime<Utc>,
    ) -> Result<Arc<Ranking>, RankError> {
        let position = store.last_change().await?;
        let mut last = self.last.lock().await;
        if let Some(cached) = last.as_ref() {
            let age = (now - cached.ranked_at).to_std().unwrap_or(Duration::MAX);
            if cached.position == position && age <= self.max_age {
                return Ok(Arc::clone(&cached.ranking));
            }
        }
        let ranking = Arc::new(rank_requests(store, weights, rates, None, now).await?);
        *last = Some(Cached { position, ranked_at: now, ranking: Arc::clone(&ranking) });
        Ok(ranking)
    }
}

impl Default for RankingCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_AGE)
    }
}
