//! Revenue-weighted priority of requests, and the breakdown that produced each score.
//!
//! A request's score is the sum over the DISTINCT accounts that asked for it (an account
//! counts once however many of its people asked) of
//! `ARR × kind weight × recency decay × segment weight × renewal boost`, plus the open
//! pipeline its sales blockers hold up (`amount × probability × pipeline weight`, each
//! opportunity once). With parent roll-up, a child's asks count for its top-most parent,
//! and the family counts once. Amounts are converted to the reporting currency before
//! anything is added; a missing rate is an error. `docs/prioritization.md` has the
//! formula with a worked example that a test below pins.
//!
//! Ranking is linear: `PriorityModel::new` prepares every account and opportunity once
//! (conversion, roll-up, segment and renewal factors), and each request is then scored
//! from its per-account aggregates (`RequestDemand`, or the `PackedDemand` the store
//! keeps, scored without unpacking) with no lookup that grows with the data.
//! `demand_from_asks` builds those aggregates from raw asks in one pass.

mod breakdown;
mod demand;
mod packed;
mod weights;

pub use breakdown::{AccountFactor, ArrChange, Counts, MemberAsks, PipelineFactor, Ranked, Score};
pub use demand::{demand_from_asks, AccountAsks, Ask, Demand, KindSet, PersonId, RequestDemand};
pub use packed::{Entries, Entry, PackError, PackedDemand};
pub use weights::{KindWeights, PriorityWeights};

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;

use crate::money::{ExchangeRates, Money, MoneyError};
use crate::{Account, Kind};

/// Why a ranking cannot be computed. Messages name ids and currencies, never amounts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriorityError {
    #[error("priority: {0}")]
    Weights(String),
    #[error("account {account_id}: {source}")]
    Account { account_id: i64, source: MoneyError },
    #[error("opportunity {opportunity_id}: {source}")]
    Opportunity { opportunity_id: i64, source: MoneyError },
    #[error("request {request_id}: an ask of account {account_id}: {source}")]
    ArrAtAsk { request_id: i64, account_id: i64, source: MoneyError },
    #[error("request {request_id}: account {account_id} is not among the accounts given")]
    UnknownAccount { request_id: i64, account_id: i64 },
    #[error("the ARR of the family of account {0} overflows")]
    Overflow(i64),
    #[error("probability {0}: must be between 0 and 100 percent")]
    Probability(String),
    #[error(transparent)]
    Packed(#[from] PackError),
}

/// What the score needs to know of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFacts {
    pub id: i64,
    /// Current ARR, in the account's own currency.
    pub arr: Money,
    pub segment: Option<String>,
    pub renewal_date: Option<NaiveDate>,
    pub parent_id: Option<i64>,
}

impl AccountFacts {
    pub fn of(account: &Account) -> Result<Self, PriorityError> {
        let arr = Money::parse(account.arr_minor, &account.currency)
            .map_err(|source| PriorityError::Account { account_id: account.id, source })?;
        Ok(Self {
            id: account.id,
            arr,
            segment: account.segment.clone(),
            renewal_date: account.renewal_date,
            parent_id: account.parent_id,
        })
    }
}

/// A chance in `[0, 1]`, read from a percent (Salesforce `Probability`); made only by
/// `from_percent`, which refuses anything outside 0–100 %.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Probability(f64);

impl Probability {
    pub fn from_percent(percent: f64) -> Result<Self, PriorityError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(PriorityError::Probability(format!("{percent}%")));
        }
        Ok(Self(percent / 100.0))
    }

    pub fn fraction(self) -> f64 {
        self.0
    }
}

/// A sales opportunity; only open ones count as pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Opportunity {
    pub id: i64,
    pub account_id: i64,
    pub amount: Money,
    pub probability: Probability,
    /// Neither won nor lost.
    pub open: bool,
}

struct AccountEntry {
    id: i64,
    arr_minor: i64,
    segment: Option<String>,
    segment_weight: f64,
    /// Index of the top-most parent (itself without one).
    root: u32,
    /// What this account counts with when it is counted (its own or its family's).
    counted: Counted,
    /// Open opportunities of this account.
    open_opportunities: Vec<u32>,
}

struct OpportunityEntry {
    id: i64,
    account_id: i64,
    amount_minor: i64,
    probability: f64,
    open: bool,
}

/// Account id → index in the model. Store ids are dense (`INTEGER PRIMARY KEY`,
/// `BIGSERIAL`), so a table indexed by `id - first` answers with one read; ids spread
/// too thinly for that (a table over 4× the accounts) fall back to a hash map.
enum AccountIndex {
    Dense { first: i64, slots: Vec<u32> },
    Sparse(FxHashMap<i64, u32>),
}

impl AccountIndex {
    const NONE: u32 = u32::MAX;

    /// `ids` in model order (index = position).
    fn new(ids: &[i64]) -> Self {
        let (Some(first), Some(last)) = (ids.iter().min().copied(), ids.iter().max().copied()) else {
            return Self::Sparse(FxHashMap::default());
        };
        let span = last.checked_sub(first).and_then(|span| usize::try_from(span).ok());
        match span {
            Some(span) if span < ids.len().saturating_mul(4).saturating_add(1024) => {
                let mut slots = vec![Self::NONE; span + 1];
                for (index, id) in ids.iter().enumerate() {
                    slots[(id - first) as usize] = index as u32;
                }
                Self::Dense { first, slots }
            }
            _ => Self::Sparse(ids.iter().enumerate().map(|(index, id)| (*id, index as u32)).collect()),
        }
    }

    #[inline]
    fn get(&self, id: i64) -> Option<u32> {
        match self {
            Self::Dense { first, slots } => {
                let at = usize::try_from(id.checked_sub(*first)?).ok()?;
                slots.get(at).copied().filter(|slot| *slot != Self::NONE)
            }
            Self::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// Accounts and opportunities prepared once, to score any number of requests.
pub struct PriorityModel {
    weights: PriorityWeights,
    rates: ExchangeRates,
    now_ms: i64,
    /// The heaviest kind and its weight, for every set of kinds.
    kind_table: [(Kind, f64); 16],
    accounts: Vec<AccountEntry>,
    account_index: AccountIndex,
    /// Per account, by index: the account its asks count for (its root under roll-up,
    /// itself otherwise). Kept apart from `accounts` so the per-ask loop of `tally`
    /// reads 4 bytes an ask, not an entry's cache line.
    counts_for: Vec<u32>,
    /// Per account, by index: `Counted::base`, read once per counted account.
    bases: Vec<f64>,
    opportunities: Vec<OpportunityEntry>,
    opportunity_index: FxHashMap<i64, u32>,
}

/// Reused between requests so that grouping and de-duplication cost O(1) per entry.
struct Scratch {
    generation: u32,
    group_stamp: Vec<u32>,
    group_slot: Vec<u32>,
    opportunity_stamp: Vec<u32>,
    /// The request's asks grouped by the account they count for, in order first seen.
    groups: Vec<Group>,
    /// Accounts whose blockers hold up all their open opportunities.
    blocking: Vec<u32>,
}

impl Scratch {
    /// A fresh stamp for the next request (stamps are reset on the rare wrap-around).
    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.group_stamp.iter_mut().for_each(|s| *s = 0);
            self.opportunity_stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.generation
    }
}

#[derive(Default)]
struct Counted {
    arr_minor: i64,
    renewal_date: Option<NaiveDate>,
    renewal_in_days: Option<i64>,
    renewal_boost: f64,
    /// `arr_minor × segment weight × renewal boost`.
    base: f64,
}

/// The heaviest kind of a set and its weight (the first of `Kind::ALL` on a tie).
fn heaviest_kind(kinds: KindSet, weights: &KindWeights) -> (Kind, f64) {
    kinds
        .iter()
        .map(|kind| (kind, weights.get(kind)))
        .fold(None, |best: Option<(Kind, f64)>, (kind, w)| match best {
            Some((_, best_w)) if best_w >= w => best,
            _ => Some((kind, w)),
        })
        .unwrap_or((Kind::FeatureRequest, 0.0))
}

/// The asks of one request that count for one account (itself and, under roll-up, its
/// children).
struct Group {
    root: u32,
    kinds: KindSet,
    /// Unix microseconds.
    newest_ask: i64,
    items: u32,
    people: u32,
}

impl Group {
    fn add(&mut self, asks: &Entry) {
        self.kinds = self.kinds.union(asks.kinds);
        self.newest_ask = self.newest_ask.max(asks.newest_ask_micros);
        self.items += asks.items;
        self.people += asks.people;
    }
}

struct Factors {
    arr_minor: i64,
    kind: Kind,
    kind_weight: f64,
    age_days: f64,
    recency: f64,
    renewal_date: Option<NaiveDate>,
    renewal_in_days: Option<i64>,
    renewal_boost: f64,
    contribution: f64,
}

impl PriorityModel {
    /// Converts every ARR and amount to the reporting currency and resolves roll-up.
    /// `now` is the moment ages and renewals are measured from.
    pub fn new(
        weights: PriorityWeights,
        rates: ExchangeRates,
        accounts: &[AccountFacts],
        opportunities: &[Opportunity],
        now: DateTime<Utc>,
    ) -> Result<Self, PriorityError> {
        weights.validate().map_err(PriorityError::Weights)?;
        let today = now.date_naive();
        if let Some(account) = accounts.get(u32::MAX as usize - 1) {
            return Err(PriorityError::Overflow(account.id));
        }
        let ids: Vec<i64> = accounts.iter().map(|account| account.id).collect();
        let account_index = AccountIndex::new(&ids);
        let mut entries = Vec::with_capacity(accounts.len());
        for (index, account) in accounts.iter().enumerate() {
            let arr_minor = rates
                .to_reporting(account.arr)
                .map_err(|source| PriorityError::Account { account_id: account.id, source })?;
            let index = index as u32;
            entries.push(AccountEntry {
                id: account.id,
                arr_minor,
                segment: account.segment.clone(),
                segment_weight: weights.segment_weight(account.segment.as_deref()),
                root: index,
                counted: Counted::default(),
                open_opportunities: Vec::new(),
            });
        }
        let parents: Vec<Option<u32>> =
            accounts.iter().map(|account| account.parent_id.and_then(|parent| account_index.get(parent))).collect();
        let roots = resolve_roots(&parents, &entries);
        // Per root: the family's ARR and its soonest renewal from today on.
        let mut families: Vec<(i64, Option<NaiveDate>)> = vec![(0, None); entries.len()];
        for (index, root) in roots.iter().enumerate() {
            entries[index].root = *root;
            let renewal = accounts[index].renewal_date.filter(|d| *d >= today);
            let family = &mut families[*root as usize];
            family.0 = family
                .0
                .checked_add(entries[index].arr_minor)
                .ok_or(PriorityError::Overflow(entries[*root as usize].id))?;
            family.1 = match (family.1, renewal) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        for ((entry, account), family) in entries.iter_mut().zip(accounts).zip(families) {
            let (arr_minor, renewal_date) = match weights.parent_rollup {
                true => family,
                false => (entry.arr_minor, account.renewal_date),
            };
            let renewal_in_days = renewal_date.map(|date| (date - today).num_days());
            let renews_soon =
                renewal_in_days.is_some_and(|days| (0..=i64::from(weights.renewal_window_days)).contains(&days));
            let renewal_boost = if renews_soon { weights.renewal_boost } else { 1.0 };
            let base = arr_minor as f64 * entry.segment_weight * renewal_boost;
            entry.counted = Counted { arr_minor, renewal_date, renewal_in_days, renewal_boost, base };
        }
        let kind_table = std::array::from_fn(|bits| heaviest_kind(KindSet::from_bits(bits as u8), &weights.kind));
        let mut opportunity_index = FxHashMap::default();
        let mut opportunity_entries = Vec::with_capacity(opportunities.len());
        for opportunity in opportunities {
            let amount_minor = rates
                .to_reporting(opportunity.amount)
                .map_err(|source| PriorityError::Opportunity { opportunity_id: opportunity.id, source })?;
            let index =
                u32::try_from(opportunity_entries.len()).map_err(|_| PriorityError::Overflow(opportunity.id))?;
            opportunity_index.insert(opportunity.id, index);
            if opportunity.open {
                if let Some(account) = account_index.get(opportunity.account_id) {
                    entries[account as usize].open_opportunities.push(index);
                }
            }
            opportunity_entries.push(OpportunityEntry {
                id: opportunity.id,
                account_id: opportunity.account_id,
                amount_minor,
                probability: opportunity.probability.fraction(),
                open: opportunity.open,
            });
        }
        let counts_for = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| if weights.parent_rollup { entry.root } else { index as u32 })
            .collect();
        let bases = entries.iter().map(|entry| entry.counted.base).collect();
        Ok(Self {
            weights,
            rates,
            now_ms: now.timestamp_millis(),
            kind_table,
            accounts: entries,
            account_index,
            counts_for,
            bases,
            opportunities: opportunity_entries,
            opportunity_index,
        })
    }

    /// Scores one request, with its breakdown.
    pub fn score(&self, demand: &impl Demand) -> Result<Score, PriorityError> {
        let mut scratch = self.scratch();
        let mut members: Vec<Vec<MemberAsks>> = Vec::new();
        let mut pipeline = Vec::new();
        let weight = self.weights.pipeline_weight;
        let totals = self.tally::<true>(
            demand,
            &mut scratch,
            |group, member| match members.get_mut(group) {
                Some(of_group) => of_group.push(member),
                None => members.push(vec![member]),
            },
            |opportunity, contribution| {
                pipeline.push(PipelineFactor {
                    opportunity_id: opportunity.id,
                    account_id: opportunity.account_id,
                    amount_minor: opportunity.amount_minor,
                    probability: opportunity.probability,
                    weight,
                    contribution,
                })
            },
        )?;
        let mut accounts: Vec<AccountFactor> =
            scratch.groups.iter().zip(members).map(|(group, members)| self.account_factor(group, members)).collect();
        accounts.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.account_id.cmp(&b.account_id)));
        pipeline
            .sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.opportunity_id.cmp(&b.opportunity_id)));
        Ok(Score {
            request_id: totals.request_id,
            score: totals.score,
            accounts_total: totals.accounts_total,
            pipeline_total: totals.pipeline_total,
            counts: totals.counts,
            accounts,
            pipeline,
        })
    }

    /// Ranks every request, highest first (ties by request id), with totals and counts
    /// but no breakdown: one pass over the aggregates, no allocation per request.
    /// `score` gives the breakdown of the requests a person looks at; both compute the
    /// numbers in `tally`, so a request ranks with exactly the score its breakdown shows.
    ///
    /// Large inputs are split into contiguous runs ranked on one thread per core (each
    /// with its own scratch), then sorted together: the order and scores do not depend
    /// on the split. The first error in input order is returned, as sequentially.
    pub fn rank<D: Demand>(&self, demands: &[D]) -> Result<Vec<Ranked>, PriorityError> {
        /// Below this many (request, account) entries a second thread costs more than it saves.
        const PARALLEL_FROM: usize = 50_000;
        let entries: usize = demands.iter().map(Demand::entry_count).sum();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let mut ranked = if threads < 2 || entries < PARALLEL_FROM {
            self.rank_run(demands)?
        } else {
            let runs = split_evenly(demands, threads);
            let results: Vec<Result<Vec<Ranked>, PriorityError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = runs.iter().map(|run| scope.spawn(move || self.rank_run(run))).collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect()
            });
            let mut ranked = Vec::with_capacity(demands.len());
            for run in results {
                ranked.extend(run?);
            }
            ranked
        };
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.request_id.cmp(&b.request_id)));
        Ok(ranked)
    }

    /// `rank` of one contiguous run, unsorted.
    fn rank_run<D: Demand>(&self, demands: &[D]) -> Result<Vec<Ranked>, PriorityError> {
        let mut scratch = self.scratch();
        demands.iter().map(|demand| self.tally::<false>(demand, &mut scratch, |_, _| {}, |_, _| {})).collect()
    }

    /// A request's totals and counts: its asks grouped by the account they count for
    /// (left in `scratch.groups`, in order first seen), each member handed to `member`
    /// with its group's index, each blocked opportunity to `opportunity` with its
    /// contribution. The one computation behind `rank` and `score`. Without
    /// `BREAKDOWN`, members are not built and an ARR at ask is only checked to have a
    /// rate (it is shown in a breakdown, never part of a score), so ranking spends
    /// nothing on numbers it does not show.
    fn tally<const BREAKDOWN: bool>(
        &self,
        demand: &impl Demand,
        scratch: &mut Scratch,
        mut member: impl FnMut(usize, MemberAsks),
        mut opportunity: impl FnMut(&OpportunityEntry, f64),
    ) -> Result<Ranked, PriorityError> {
        let generation = scratch.next_generation();
        let request_id = demand.request_id();
        scratch.groups.clear();
        scratch.blocking.clear();
        for asks in demand.entries() {
            let asks = asks?;
            let account_id = asks.account_id;
            let index =
                self.account_index.get(account_id).ok_or(PriorityError::UnknownAccount { request_id, account_id })?;
            let root = self.counts_for[index as usize];
            let arr_at_ask_minor = match asks.arr_at_ask {
                Some(arr) if BREAKDOWN => Some(self.rates.to_reporting(arr)),
                Some(arr) => self.rates.check(arr.currency).err().map(Err),
                None => None,
            }
            .transpose()
            .map_err(|source| PriorityError::ArrAtAsk { request_id, account_id, source })?;
            if asks.blocks_account_pipeline {
                scratch.blocking.push(index);
            }
            let slot = root as usize;
            if scratch.group_stamp[slot] != generation {
                scratch.group_stamp[slot] = generation;
                scratch.group_slot[slot] = scratch.groups.len() as u32;
                let newest_ask = asks.newest_ask_micros;
                scratch.groups.push(Group { root, kinds: KindSet::default(), newest_ask, items: 0, people: 0 });
            }
            let group = scratch.group_slot[slot] as usize;
            scratch.groups[group].add(&asks);
            if BREAKDOWN {
                let arr_minor = self.accounts[index as usize].arr_minor;
                member(
                    group,
                    MemberAsks {
                        account_id,
                        items: asks.items,
                        people: asks.people,
                        arr_minor,
                        arr_at_ask_minor,
                        arr_change: ArrChange::between(arr_at_ask_minor, arr_minor),
                    },
                );
            }
        }

        let accounts_total: f64 = scratch.groups.iter().map(|group| self.contribution(group)).sum();
        let mut pipeline_total = 0.0;
        let mut opportunities = 0;
        let named = demand.opportunities().iter().filter_map(|id| self.opportunity_index.get(id).copied());
        let of_accounts =
            scratch.blocking.iter().flat_map(|a| self.accounts[*a as usize].open_opportunities.iter().copied());
        for index in named.chain(of_accounts) {
            let entry = &self.opportunities[index as usize];
            let stamp = &mut scratch.opportunity_stamp[index as usize];
            if !entry.open || *stamp == generation {
                continue;
            }
            *stamp = generation;
            let contribution = entry.amount_minor as f64 * entry.probability * self.weights.pipeline_weight;
            pipeline_total += contribution;
            opportunities += 1;
            opportunity(entry, contribution);
        }
        let groups = &scratch.groups;
        let (unattributed_items, unattributed_people) = demand.unattributed();
        let counts = Counts {
            items: groups.iter().map(|g| g.items).sum::<u32>() + unattributed_items,
            people: groups.iter().map(|g| g.people).sum::<u32>() + unattributed_people,
            accounts: groups.len() as u32,
            opportunities,
        };
        Ok(Ranked { request_id, score: accounts_total + pipeline_total, accounts_total, pipeline_total, counts })
    }

    /// The factors of one counted account: the formula, in one place.
    fn factors(&self, group: &Group) -> Factors {
        let counted = &self.accounts[group.root as usize].counted;
        let (kind, kind_weight) = self.kind_table[usize::from(group.kinds.bits() & 0xf)];
        let age_days = self.age_days(group);
        let recency = (-age_days / self.weights.recency_half_life_days).exp2();
        Factors {
            arr_minor: counted.arr_minor,
            kind,
            kind_weight,
            age_days,
            recency,
            renewal_date: counted.renewal_date,
            renewal_in_days: counted.renewal_in_days,
            renewal_boost: counted.renewal_boost,
            contribution: counted.base * kind_weight * recency,
        }
    }

    fn age_days(&self, group: &Group) -> f64 {
        (self.now_ms - group.newest_ask.div_euclid(1_000)).max(0) as f64 / 86_400_000.0
    }

    /// `factors(group).contribution`, from the compact arrays only (what ranking needs).
    #[inline]
    fn contribution(&self, group: &Group) -> f64 {
        let (_, kind_weight) = self.kind_table[usize::from(group.kinds.bits() & 0xf)];
        let recency = (-self.age_days(group) / self.weights.recency_half_life_days).exp2();
        self.bases[group.root as usize] * kind_weight * recency
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            generation: 0,
            group_stamp: vec![0; self.accounts.len()],
            group_slot: vec![0; self.accounts.len()],
            opportunity_stamp: vec![0; self.opportunities.len()],
            groups: Vec::new(),
            blocking: Vec::new(),
        }
    }

    fn account_factor(&self, group: &Group, members: Vec<MemberAsks>) -> AccountFactor {
        let entry = &self.accounts[group.root as usize];
        let f = self.factors(group);
        AccountFactor {
            account_id: entry.id,
            members,
            arr_minor: f.arr_minor,
            kind: f.kind,
            kind_weight: f.kind_weight,
            newest_ask: DateTime::from_timestamp_micros(group.newest_ask).unwrap_or_default(),
            age_days: f.age_days,
            recency: f.recency,
            segment: entry.segment.clone(),
            segment_weight: entry.segment_weight,
            renewal_date: f.renewal_date,
            renewal_in_days: f.renewal_in_days,
            renewal_boost: f.renewal_boost,
            items: group.items,
            people: group.people,
            contribution: f.contribution,
        }
    }
}

/// `items` cut into at most `parts` contiguous runs holding about as many
/// (request, account) entries each.
fn split_evenly<D: Demand>(items: &[D], parts: usize) -> Vec<&[D]> {
    let total: usize = items.iter().map(|demand| demand.entry_count() + 1).sum();
    let per_part = total.div_ceil(parts.max(1));
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut filled) = (0, 0);
    for (at, demand) in items.iter().enumerate() {
        filled += demand.entry_count() + 1;
        if filled >= per_part && runs.len() + 1 < parts {
            runs.push(&items[start..=at]);
            (start, filled) = (at + 1, 0);
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

/// The top-most parent of every account, each walked once. A parent cycle (bad data)
/// has its smallest account id as the root of all its members.
fn resolve_roots(parents: &[Option<u32>], entries: &[AccountEntry]) -> Vec<u32> {
    const UNKNOWN: u32 = u32::MAX;
    let mut roots = vec![UNKNOWN; parents.len()];
    let mut on_path = vec![false; parents.len()];
    let mut path: Vec<u32> = Vec::new();
    for start in 0..parents.len() {
        if roots[start] != UNKNOWN {
            continue;
        }
        path.clear();
        let mut at = start as u32;
        let root = loop {
            if roots[at as usize] != UNKNOWN {
                break roots[at as usize];
            }
            if on_path[at as usize] {
                let cycle_start = path.iter().position(|p| *p == at).unwrap_or(0);
                break path[cycle_start..].iter().copied().min_by_key(|p| entries[*p as usize].id).unwrap_or(at);
            }
            on_path[at as usize] = true;
            path.push(at);
            match parents[at as usize] {
                Some(parent) => at = parent,
                None => break at,
            }
        };
        for member in &path {
            roots[*member as usize] = root;
            on_path[*member as usize] = false;
        }
    }
    roots
}

#[cfg(test)]
mod tests;
