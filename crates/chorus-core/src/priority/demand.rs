//! What a request's score is computed from: raw asks, and their per-account aggregates.
//!
//! `demand_from_asks` folds asks into `RequestDemand`s in one pass with hash maps keyed
//! by (request, account), so a million asks cost a million O(1) steps; the store may
//! build the same aggregates with a SQL `GROUP BY` instead.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::packed::{Entry, PackedDemand};
use super::PriorityError;
use crate::money::Money;
use crate::Kind;

/// A stable number per person (a contact id, or `PersonId::of_email`), to count people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub u64);

impl PersonId {
    /// The same number for the same address, whatever its case or surrounding blanks.
    pub fn of_email(email: &str) -> Self {
        let mut hasher = FxHasher::default();
        email.trim().to_ascii_lowercase().hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// One item linked to a request, as the store reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub request_id: i64,
    /// `None` for an item not resolved to an account: counted, never scored.
    pub account_id: Option<i64>,
    pub kind: Kind,
    pub asked_at: DateTime<Utc>,
    pub author: Option<PersonId>,
    /// The account's ARR when the item was made, if recorded.
    pub arr_at_ask: Option<Money>,
    /// The opportunity a sales blocker holds up, if the source names one.
    pub opportunity_id: Option<i64>,
}

/// The kinds an account asked with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    pub fn insert(&mut self, kind: Kind) {
        self.0 |= 1 << kind as u8;
    }

    pub fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> KindSet {
        KindSet(bits & ((1 << Kind::ALL.len()) - 1))
    }

    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.iter().copied().filter(move |kind| self.contains(*kind))
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(kinds: I) -> Self {
        let mut set = KindSet::default();
        kinds.into_iter().for_each(|kind| set.insert(kind));
        set
    }
}

/// One account's asks for one request, aggregated (by `demand_from_asks` or a SQL
/// `GROUP BY request, account`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountAsks {
    pub account_id: i64,
    pub kinds: KindSet,
    pub items: u32,
    /// Distinct people of this account who asked.
    pub people: u32,
    pub newest_ask: DateTime<Utc>,
    /// The ARR recorded on the newest ask that recorded one.
    pub arr_at_ask: Option<Money>,
    /// A sales blocker of this account named no opportunity: its open ones count.
    pub blocks_account_pipeline: bool,
}

/// Everything linked to one request, by account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestDemand {
    pub request_id: i64,
    pub accounts: Vec<AccountAsks>,
    /// Items resolved to no account, and their distinct people.
    pub unattributed_items: u32,
    pub unattributed_people: u32,
    /// Opportunities named by the request's sales blockers (repeats count once).
    pub opportunities: Vec<i64>,
}

/// Folds raw asks into per-request, per-account aggregates in one pass, requests in
/// the order first seen. A person without an id is an item but not a person.
pub fn demand_from_asks(asks: impl IntoIterator<Item = Ask>) -> Vec<RequestDemand> {
    let mut demands: Vec<RequestDemand> = Vec::new();
    let mut arr_seen_at: Vec<Vec<DateTime<Utc>>> = Vec::new();
    let mut request_slot: FxHashMap<i64, usize> = FxHashMap::default();
    let mut account_slot: FxHashMap<(i64, i64), usize> = FxHashMap::default();
    let mut people: FxHashSet<(i64, Option<i64>, PersonId)> = FxHashSet::default();
    let mut opportunities: FxHashSet<(i64, i64)> = FxHashSet::default();
    for ask in asks {
        let r = *request_slot.entry(ask.request_id).or_insert_with(|| {
            demands.push(RequestDemand { request_id: ask.request_id, ..RequestDemand::default() });
            arr_seen_at.push(Vec::new());
            demands.len() - 1
        });
        let demand = &mut demands[r];
        let new_person = ask.author.is_some_and(|person| people.insert((ask.request_id, ask.account_id, person)));
        let Some(account_id) = ask.account_id else {
            demand.unattributed_items += 1;
            demand.unattributed_people += u32::from(new_person);
            continue;
        };
        if ask.kind == Kind::SalesBlocker {
            if let Some(opportunity) = ask.opportunity_id {
                if opportunities.insert((ask.request_id, opportunity)) {
                    demand.opportunities.push(opportunity);
                }
            }
        }
        let a = *account_slot.entry((ask.request_id, account_id)).or_insert_with(|| {
            demand.accounts.push(AccountAsks {
                account_id,
                kinds: KindSet::default(),
                items: 0,
                people: 0,
                newest_ask: ask.asked_at,
                arr_at_ask: None,
                blocks_account_pipeline: false,
            });
            arr_seen_at[r].push(DateTime::<Utc>::MIN_UTC);
            demand.accounts.len() - 1
        });
        let entry = &mut demand.accounts[a];
        entry.kinds.insert(ask.kind);
        entry.items += 1;
        entry.people += u32::from(new_person);
        entry.newest_ask = entry.newest_ask.max(ask.asked_at);
        entry.blocks_account_pipeline |= ask.kind == Kind::SalesBlocker && ask.opportunity_id.is_none();
        if let Some(arr) = ask.arr_at_ask {
            if ask.asked_at >= arr_seen_at[r][a] {
                arr_seen_at[r][a] = ask.asked_at;
                entry.arr_at_ask = Some(arr);
            }
        }
    }
    demands
}

/// What a request is scored from: its plain demand, or the packed one read from the
/// store. `rank` and `score` take either and give the same numbers.
pub trait Demand: Sync {
    fn request_id(&self) -> i64;
    /// The per-account aggregates, in any order.
    fn entries(&self) -> impl Iterator<Item = Result<Entry, PriorityError>> + '_;
    /// How many entries there are (to share work between threads).
    fn entry_count(&self) -> usize;
    fn opportunities(&self) -> &[i64];
    /// Items resolved to no account, and their distinct people.
    fn unattributed(&self) -> (u32, u32);
}

impl Demand for RequestDemand {
    fn request_id(&self) -> i64 {
        self.request_id
    }

    fn entries(&self) -> impl Iterator<Item = Result<Entry, PriorityError>> + '_ {
        self.accounts.iter().map(|asks| Ok(Entry::of(asks)))
    }

    fn entry_count(&self) -> usize {
        self.accounts.len()
    }

    fn opportunities(&self) -> &[i64] {
        &self.opportunities
    }

    fn unattributed(&self) -> (u32, u32) {
        (self.unattributed_items, self.unattributed_people)
    }
}

impl Demand for PackedDemand {
    fn request_id(&self) -> i64 {
        self.request_id
    }

    fn entries(&self) -> impl Iterator<Item = Result<Entry, PriorityError>> + '_ {
        PackedDemand::entries(self).map(|entry| entry.map_err(PriorityError::from))
    }

    fn entry_count(&self) -> usize {
        self.len()
    }

    fn opportunities(&self) -> &[i64] {
        &self.opportunities
    }

    fn unattributed(&self) -> (u32, u32) {
        (self.unattributed_items, self.unattributed_people)
    }
}
