//! Suggested links: for a request, the items most like it that are not linked yet; for
//! an item, the requests it most likely belongs to. Each comes with its reason — the
//! words both sides share, heaviest first — and a score.
//!
//! A request's profile is its title and description plus the text of the items already
//! linked to it (the `MAX_PROFILE_ITEMS` most recently linked); an item's is its title,
//! body and comments. The profile's heaviest words (`profile`) become a more-like-this
//! query over the indexed text fields, scored by tantivy's BM25: a suggestion's `score`
//! is that relevance. A likely request's `score` is the share (0 to 1) of the item's
//! word weight the request has: a word of its title or description counts fully, a word
//! only its linked items among the `NEIGHBOURS` indexed items most like this one have
//! counts `SECOND_HAND`.
//!
//! Invariants: an item linked to the request, or rejected for it, is never suggested for
//! it; by default neither is an item linked to any request; a request an item is linked
//! to or rejected for, or that is merged away, shipped or declined, is never offered for
//! it. The store has the last word on links (the index may lag behind it by a few
//! changes), so every candidate the index returns is checked against the store. The work
//! is bounded: one query of at most `MAX_QUERY_TERMS` words with a top-N collector, and
//! store reads of the request's links, the candidates and (for an item) the requests —
//! those read and their texts analysed once per position of the store's change log
//! (`OfferedCache`), not once per call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chorus_core::{Item, Request, RequestStatus};
use chorus_store::{IdPage, Raw, Store, StoreError};
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::schema::Value;
use tantivy::TantivyDocument;

use crate::error::{IndexError, QueryError, Result};
use crate::generation::Generation;
use crate::index::SearchIndex;
use crate::profile::{document_words, text_words, Linked, Profile, Words};
use crate::search::{guarded, text};

/// Most suggestions (or likely requests) one call returns.
pub const MAX_SUGGESTIONS: usize = 100;
/// How many suggestions a caller gets without naming a limit.
pub const DEFAULT_SUGGESTIONS: usize = 10;
/// Most linked items whose text joins a request's profile (the most recently linked).
pub const MAX_PROFILE_ITEMS: usize = 200;
/// Most shared words shown as the reason of one suggestion.
pub const SHARED_TERMS: usize = 5;
/// Linked items most like an item whose requests are candidates for it.
pub const NEIGHBOURS: usize = 50;
/// What a word shared only through a request's linked items counts, against 1 for a
/// word of the request's own title or description.
pub const SECOND_HAND: f32 = 0.5;
/// Most similar linked items named per likely request.
const NAMED_NEIGHBOURS: usize = 5;
/// Requests read per store page when looking for an item's likely requests.
const REQUEST_PAGE: u32 = 5_000;

/// What to suggest for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestOptions {
    /// 1 to [`MAX_SUGGESTIONS`].
    pub limit: usize,
    /// Also suggest items already linked to other requests (never those linked to this one).
    pub include_linked: bool,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        Self { limit: DEFAULT_SUGGESTIONS, include_linked: false }
    }
}

/// An item suggested for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub item_id: i64,
    /// BM25 relevance of the item to the request's profile (higher is closer).
    pub score: f32,
    /// The words the request's profile and the item share, heaviest first.
    pub shared_terms: Vec<String>,
    pub title: String,
    pub kind: String,
    pub source: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
}

/// A request an item likely belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikelyRequest {
    pub request_id: i64,
    pub title: String,
    pub status: RequestStatus,
    /// The share, 0 to 1, of the item's word weight that the request has.
    pub score: f32,
    /// The words the item and the request share, heaviest first.
    pub shared_terms: Vec<String>,
    /// Items linked to the request among those most like this item, closest first.
    pub similar_items: Vec<i64>,
}

/// Why a request may be an item's: the profile words its title and description share
/// with the item, and those its linked items among the item's neighbours share.
#[derive(Debug, Default)]
struct Evidence {
    own: HashSet<String>,
    second_hand: HashSet<String>,
    similar_items: Vec<i64>,
}

impl Evidence {
    /// A word of the request's own text counts fully, a word found only in its linked
    /// items [`SECOND_HAND`]: what a request says it is weighs more than what the items
    /// people linked to it also talk about.
    fn score(&self, profile: &Profile) -> f32 {
        let own: f32 = self.own.iter().map(|word| profile.weight(word)).sum();
        let second_hand: f32 =
            self.second_hand.difference(&self.own).map(|word| profile.weight(word)).sum::<f32>() * SECOND_HAND;
        own + second_hand
    }

    fn words(&self) -> HashSet<String> {
        self.own.union(&self.second_hand).cloned().collect()
    }
}

/// An indexed item the similarity query returned, with the profile words it holds.
#[derive(Debug, Clone)]
struct Candidate {
    item_id: i64,
    score: f32,
    /// Every profile word the item holds, heaviest first.
    shared: Vec<String>,
    doc: TantivyDocument,
}

impl SearchIndex {
    /// The items most like request `request_id` that are linked to it by nobody (see
    /// [`SuggestOptions::include_linked`]) and were not rejected for it, best first.
    /// `StoreError::NotFound` for an unknown request, `Conflict` for a merged one.
    pub async fn suggest_items(
        &self,
        store: &dyn Store,
        request_id: i64,
        options: SuggestOptions,
    ) -> Result<Vec<Suggestion>> {
        validate(options.limit)?;
        let request =
            store.request(request_id).await?.ok_or(StoreError::NotFound { what: "request", id: request_id })?;
        if let Some(survivor) = request.merged_into {
            let message = format!("request {request_id} was merged into request {survivor}; ask that one");
            return Err(StoreError::Conflict(message).into());
        }
        let mut links = store.request_links(request_id).await?;
        let rejected = store.rejections(Some(request_id), None).await?;
        let mut excluded: Vec<i64> =
            links.iter().map(|link| link.item_id).chain(rejected.iter().map(|(_, item)| *item)).collect();
        excluded.sort_unstable();
        excluded.dedup();
        links.sort_by(|a, b| b.linked_at.cmp(&a.linked_at).then(a.item_id.cmp(&b.item_id)));
        let profile_ids: Vec<i64> = links.iter().take(MAX_PROFILE_ITEMS).map(|link| link.item_id).collect();
        let mut words = Words::default();
        words.add_titled(&request.title, &request.description);
        for item in store.items_by_id(&profile_ids, Raw::Omit).await? {
            if item.deleted_at.is_none() {
                words.add_item(&item);
            }
        }
        let linked = if options.include_linked { Linked::Any } else { Linked::Unlinked };
        // Room for the candidates the store may turn down (linked since the index saw them).
        let fetch = options.limit * 2 + 10;
        let live = self.live();
        let worker = Arc::clone(&live);
        let candidates = blocking(move || {
            let searcher = worker.reader.searcher();
            let profile = Profile::weigh(&words, &searcher, &worker.fields)?;
            similar(&worker, &searcher, &profile, linked, &excluded, fetch)
        })
        .await?;
        let ids: Vec<i64> = candidates.iter().map(|candidate| candidate.item_id).collect();
        let current: HashMap<i64, Item> =
            store.items_by_id(&ids, Raw::Omit).await?.into_iter().map(|item| (item.id, item)).collect();
        let fields = &live.fields;
        let suggestions = candidates
            .into_iter()
            .filter(|candidate| {
                current.get(&candidate.item_id).is_some_and(|item| {
                    item.deleted_at.is_none()
                        && !item.request_ids.contains(&request_id)
                        && (options.include_linked || item.request_ids.is_empty())
                })
            })
            .take(options.limit)
            .map(|candidate| {
                let doc = &candidate.doc;
                let int = |field| doc.get_first(field).and_then(|value| value.as_i64());
                Suggestion {
                    item_id: candidate.item_id,
                    score: candidate.score,
                    shared_terms: candidate.shared.into_iter().take(SHARED_TERMS).collect(),
                    title: text(doc, fields.title).unwrap_or_default(),
                    kind: text(doc, fields.kind).unwrap_or_default(),
                    source: text(doc, fields.source).unwrap_or_default(),
                    account_id: int(fields.account_id),
                    account_name: text(doc, fields.account_name),
                }
            })
            .collect();
        Ok(suggestions)
    }

    /// The open requests item `item_id` most likely belongs to, best first: not one it
    /// is linked to or was rejected for, nor a merged, shipped or declined one.
    /// `StoreError::NotFound` for an unknown or deleted item.
    pub async fn likely_requests(&self, store: &dyn Store, item_id: i64, limit: usize) -> Result<Vec<LikelyRequest>> {
        validate(limit)?;
        let item = store.items_by_id(&[item_id], Raw::Omit).await?.into_iter().find(|item| item.id == item_id);
        let item = item.filter(|item| item.deleted_at.is_none());
        let item = item.ok_or(StoreError::NotFound { what: "item", id: item_id })?;
        let rejected: HashSet<i64> =
            store.rejections(None, Some(item_id)).await?.into_iter().map(|(request, _)| request).collect();
        let all = self.offered_cache().offered(store).await?;
        let not_offered: HashSet<i64> = item.request_ids.iter().copied().chain(rejected).collect();
        let offered: BTreeMap<i64, &Request> = all
            .iter()
            .map(|offered| &offered.request)
            .filter(|request| !not_offered.contains(&request.id))
            .map(|request| (request.id, request))
            .collect();
        if offered.is_empty() {
            return Ok(Vec::new());
        }
        let mut words = Words::default();
        words.add_item(&item);
        let live = self.live();
        let requests = Arc::clone(&all);
        let (profile, neighbours, by_text) = blocking(move || {
            let searcher = live.reader.searcher();
            let profile = Profile::weigh(&words, &searcher, &live.fields)?;
            let neighbours = similar(&live, &searcher, &profile, Linked::Only, &[item_id], NEIGHBOURS)?;
            let by_text: Vec<(i64, Vec<String>)> = requests
                .iter()
                .filter(|offered| !not_offered.contains(&offered.request.id))
                .map(|offered| (offered.request.id, profile.shared(&offered.words)))
                .filter(|(_, shared)| !shared.is_empty())
                .collect();
            Ok((profile, neighbours, by_text))
        })
        .await?;
        let total = profile.total();
        if total <= 0.0 {
            return Ok(Vec::new());
        }
        // Which requests the neighbours are linked to now (the index may lag).
        let ids: Vec<i64> = neighbours.iter().map(|neighbour| neighbour.item_id).collect();
        let links: HashMap<i64, Vec<i64>> = store
            .items_by_id(&ids, Raw::Omit)
            .await?
            .into_iter()
            .filter(|neighbour| neighbour.deleted_at.is_none())
            .map(|neighbour| (neighbour.id, neighbour.request_ids))
            .collect();
        // Per offered request: the shared words of its own text, and those of its linked
        // neighbours with the neighbours' ids.
        let mut evidence: BTreeMap<i64, Evidence> = BTreeMap::new();
        for (request_id, shared) in by_text {
            evidence.entry(request_id).or_default().own.extend(shared);
        }
        for neighbour in &neighbours {
            for request_id in links.get(&neighbour.item_id).into_iter().flatten() {
                if !offered.contains_key(request_id) {
                    continue;
                }
                let entry = evidence.entry(*request_id).or_default();
                entry.second_hand.extend(neighbour.shared.iter().cloned());
                entry.similar_items.push(neighbour.item_id);
            }
        }
        let mut likely: Vec<LikelyRequest> = evidence
            .into_iter()
            .filter_map(|(request_id, evidence)| {
                let request = offered.get(&request_id)?;
                let score = evidence.score(&profile) / total;
                (score > 0.0).then(|| LikelyRequest {
                    request_id,
                    title: request.title.clone(),
                    status: request.status,
                    score,
                    shared_terms: profile.shared(&evidence.words()).into_iter().take(SHARED_TERMS).collect(),
                    similar_items: evidence.similar_items,
                })
            })
            .collect();
        likely.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.similar_items.len().cmp(&a.similar_items.len()))
                .then(a.request_id.cmp(&b.request_id))
        });
        likely.truncate(limit);
        for request in &mut likely {
            request.similar_items.truncate(NAMED_NEIGHBOURS);
        }
        Ok(likely)
    }
}

/// Whether a request may be offered for an item: live, and neither shipped nor declined.
pub fn is_offered(request: &Request) -> bool {
    request.merged_into.is_none() && !matches!(request.status, RequestStatus::Shipped | RequestStatus::Declined)
}

fn validate(limit: usize) -> Result<(), QueryError> {
    if limit == 0 || limit > MAX_SUGGESTIONS {
        return Err(QueryError::Limit { limit, max: MAX_SUGGESTIONS });
    }
    Ok(())
}

/// Every request that may be offered, a page of the store at a time.
/// A request an item may be offered, with the words of its title and description.
#[derive(Debug)]
pub(crate) struct Offered {
    pub(crate) request: Request,
    pub(crate) words: HashSet<String>,
}

/// The offered requests and their words as of a position of the store's change log.
/// Every write to a request (create, rename, status, merge, promote, link) appends to
/// the log, so while its position has not moved the list is current. The position is
/// read *before* the requests, so a write racing a refresh makes the kept position
/// older than the list, never newer: the next call reads again.
#[derive(Debug, Default)]
pub(crate) struct OfferedCache {
    last: tokio::sync::Mutex<Option<(i64, Arc<Vec<Offered>>)>>,
}

impl OfferedCache {
    /// The offered requests, read and analysed again only when the store has changed.
    pub(crate) async fn offered(&self, store: &dyn Store) -> Result<Arc<Vec<Offered>>> {
        let position = store.last_change().await?;
        let mut last = self.last.lock().await;
        if let Some((at, offered)) = last.as_ref() {
            if *at == position {
                return Ok(Arc::clone(offered));
            }
        }
        let requests = live_requests(store).await?;
        let offered = blocking(move || {
            Ok(requests
                .into_iter()
                .map(|request| {
                    let words = text_words(&[request.title.as_str(), request.description.as_str()]);
                    Offered { request, words }
                })
                .collect::<Vec<_>>())
        })
        .await?;
        let offered = Arc::new(offered);
        *last = Some((position, Arc::clone(&offered)));
        Ok(offered)
    }
}

async fn live_requests(store: &dyn Store) -> Result<Vec<Request>> {
    let mut offered = Vec::new();
    let mut after_id = 0;
    loop {
        let page = store.requests(IdPage { after_id, limit: REQUEST_PAGE }).await?;
        let Some(last) = page.last().map(|request| request.id) else { break };
        after_id = last;
        offered.extend(page.into_iter().filter(is_offered));
    }
    Ok(offered)
}

/// The `fetch` indexed items most like `profile`, best first, with the profile words
/// each holds. An empty profile matches nothing.
fn similar(
    live: &Generation,
    searcher: &tantivy::Searcher,
    profile: &Profile,
    linked: Linked,
    excluded: &[i64],
    fetch: usize,
) -> Result<Vec<Candidate>> {
    if profile.is_empty() {
        return Ok(Vec::new());
    }
    let fields = &live.fields;
    let query = profile.query(fields, linked, excluded);
    let top = guarded(|| searcher.search(&*query, &TopDocs::with_limit(fetch).order_by_score()))?;
    let mut candidates = Vec::with_capacity(top.len());
    for (score, address) in top {
        let doc: TantivyDocument = searcher.doc(address)?;
        let Some(item_id) = doc.get_first(fields.item_id).and_then(|value| value.as_i64()) else { continue };
        let shared = profile.shared(&document_words(&doc, fields));
        candidates.push(Candidate { item_id, score, shared, doc });
    }
    Ok(candidates)
}

/// Runs index work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| IndexError::Task(format!("suggestion task: {error}")))?
}
