//! The deterministic synthetic corpus: accounts with lognormal ARR, items with Zipfian
//! vocabulary and realistic sources, kinds and statuses, and the 200 fixed queries.
//!
//! Shared by the HTTP bench (`chorus-server`'s `http_bench` example includes this file with
//! `#[path]`), so both phases of `make bench` query and write the same corpus.
//!
//! Invariant: the same seed and size always give byte-identical accounts, items and
//! queries (one `StdRng` stream per purpose, consumed in a fixed order).

use chorus_core::{ItemRecord, Kind, LifecycleStage, Person, Record, Source};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const SEED: u64 = 0x00C4_0205;
pub const ACCOUNTS: usize = 20_000;
const VOCABULARY: usize = 30_000;
const ZIPF_EXPONENT: f64 = 1.07;

/// Frequent product words at the head of the distribution, then synthetic words.
const HEAD: &[&str] = &[
    "the",
    "to",
    "and",
    "a",
    "is",
    "in",
    "not",
    "when",
    "we",
    "error",
    "login",
    "export",
    "report",
    "sso",
    "dashboard",
    "api",
    "billing",
    "invoice",
    "sync",
    "slow",
    "timeout",
    "mobile",
    "search",
    "admin",
    "permission",
    "webhook",
    "csv",
    "saml",
    "okta",
    "integration",
    "email",
    "notification",
    "customer",
    "page",
    "crash",
    "upload",
    "pdf",
    "filter",
    "chart",
    "user",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "re", "su", "ta", "ne", "po", "vi", "ze", "da", "gu", "fi", "ro", "ba", "le", "mo", "ni", "pa",
    "tu",
];

pub struct Account {
    pub external_id: String,
    pub name: String,
    pub arr_minor: i64,
    pub segment: &'static str,
    pub stage: LifecycleStage,
}

pub struct BenchItem {
    pub external_id: String,
    pub source: Source,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    pub comments: Vec<String>,
    pub status: &'static str,
    pub account: Option<usize>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a benchmark query asks: text and at most one filter.
#[derive(Clone, Debug)]
pub struct BenchQuery {
    pub text: String,
    pub filter: Option<(&'static str, String)>,
}

pub struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocabulary {
    pub fn new() -> Self {
        let mut words: Vec<String> = HEAD.iter().map(|w| (*w).to_owned()).collect();
        let mut n = 0usize;
        while words.len() < VOCABULARY {
            n += 1;
            words.push(synthetic_word(n));
        }
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut total = 0.0;
        for rank in 1..=VOCABULARY {
            total += 1.0 / (rank as f64).powf(ZIPF_EXPONENT);
            cdf.push(total);
        }
        for value in &mut cdf {
            *value /= total;
        }
        Vocabulary { words, cdf }
    }

    pub fn word(&self, rank: usize) -> &str {
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn sample(&self, rng: &mut StdRng) -> &str {
        let u: f64 = rng.gen();
        let rank = self.cdf.partition_point(|&c| c < u);
        self.word(rank)
    }

    fn sentence(&self, rng: &mut StdRng, min: usize, max: usize) -> String {
        let len = rng.gen_range(min..=max);
        let words: Vec<&str> = (0..len).map(|_| self.sample(rng)).collect();
        words.join(" ")
    }
}

/// Bijective base-20 over two-letter syllables: unique and pronounceable, at least two
/// syllables so no synthetic word equals a head word.
fn synthetic_word(mut n: usize) -> String {
    let mut word = String::new();
    n += SYLLABLES.len();
    while n > 0 {
        n -= 1;
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    word
}

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

pub fn accounts() -> Vec<Account> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let stages = LifecycleStage::ALL;
    (0..ACCOUNTS)
        .map(|n| {
            // Lognormal: median $15k, long tail to tens of millions.
            let dollars = (15_000f64.ln() + 1.6 * normal(&mut rng)).exp().clamp(500.0, 50_000_000.0);
            let segment = match dollars {
                d if d >= 250_000.0 => "enterprise",
                d if d >= 50_000.0 => "mid_market",
                _ => "smb",
            };
            Account {
                external_id: format!("acct-{n}"),
                name: format!("Account {n}"),
                arr_minor: dollars.round() as i64 * 100,
                segment,
                stage: stages[rng.gen_range(0..stages.len())],
            }
        })
        .collect()
}

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    weighted[0].0
}

/// Generates the items in order; call with the same `vocabulary` for the same output.
pub struct Items<'a> {
    rng: StdRng,
    vocabulary: &'a Vocabulary,
    next: usize,
    total: usize,
    epoch: DateTime<Utc>,
}

impl<'a> Items<'a> {
    pub fn new(vocabulary: &'a Vocabulary, total: usize) -> Self {
        let epoch = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).single().unwrap_or_default();
        Items { rng: StdRng::seed_from_u64(SEED + 1), vocabulary, next: 0, total, epoch }
    }
}

impl Iterator for Items<'_> {
    type Item = BenchItem;

    fn next(&mut self) -> Option<BenchItem> {
        if self.next >= self.total {
            return None;
        }
        self.next += 1;
        let rng = &mut self.rng;
        use Kind::*;
        use Source::*;
        let source = pick(rng, &[(Zendesk, 40), (Jira, 25), (Slack, 20), (Salesforce, 15)]);
        let (kind, status) = match source {
            Jira => (
                pick(rng, &[(Bug, 6), (FeatureRequest, 4)]),
                pick(rng, &[("open", 5), ("in progress", 2), ("done", 3)]),
            ),
            Zendesk => {
                (pick(rng, &[(SupportTicket, 8), (Bug, 2)]), pick(rng, &[("open", 3), ("pending", 2), ("solved", 5)]))
            }
            Slack => (pick(rng, &[(FeatureRequest, 5), (Bug, 3), (SupportTicket, 2)]), "new"),
            _ => (pick(rng, &[(SalesBlocker, 7), (FeatureRequest, 3)]), pick(rng, &[("open", 6), ("closed", 4)])),
        };
        let account = if rng.gen_bool(0.92) {
            // Bigger customers file more feedback: a mild skew towards low account numbers.
            let u: f64 = rng.gen();
            Some(((u * u) * ACCOUNTS as f64) as usize % ACCOUNTS)
        } else {
            None
        };
        let created_at = self.epoch + Duration::seconds(rng.gen_range(0..730 * 86_400));
        let updated_at = created_at + Duration::seconds(rng.gen_range(0..60 * 86_400));
        let title = self.vocabulary.sentence(rng, 3, 8);
        let body = self.vocabulary.sentence(rng, 15, 80);
        let comment_count = rng.gen_range(0..=2);
        let comments = (0..comment_count).map(|_| self.vocabulary.sentence(rng, 5, 30)).collect();
        Some(BenchItem {
            external_id: format!("{}-{}", source.as_str(), self.next),
            source,
            kind,
            title,
            body,
            comments,
            status,
            account,
            created_at,
            updated_at,
        })
    }
}

/// 200 queries: 70 single words across the frequency range, 70 two- or three-word ANDs,
/// 60 phrases lifted from generated text; every other query carries one filter.
pub fn queries(vocabulary: &Vocabulary, n_items: usize) -> Vec<BenchQuery> {
    let mut rng = StdRng::seed_from_u64(SEED + 2);
    let mut texts = Vec::with_capacity(200);
    for i in 0..70 {
        // Ranks spread log-uniformly from the most frequent word to rank ~20 000.
        let rank = (20_000f64.powf(i as f64 / 69.0)) as usize - 1;
        texts.push(vocabulary.word(rank).to_owned());
    }
    for i in 0..70 {
        let terms = 2 + i % 2;
        let words: Vec<&str> = (0..terms).map(|_| vocabulary.word(rng.gen_range(0..2_000))).collect();
        texts.push(words.join(" "));
    }
    let mut sample = Items::new(vocabulary, n_items.min(5_000));
    for _ in 0..60 {
        let item = sample.next().unwrap_or_else(|| Items::new(vocabulary, 1).next().expect("one item"));
        let words: Vec<&str> = item.body.split(' ').collect();
        let start = rng.gen_range(0..words.len().saturating_sub(2).max(1));
        let end = (start + 2).min(words.len());
        texts.push(format!("\"{}\"", words[start..end].join(" ")));
    }
    let filters: [(&str, &[&str]); 4] = [
        ("kind", &["bug", "feature_request", "support_ticket", "sales_blocker"]),
        ("source", &["zendesk", "jira", "slack", "salesforce"]),
        ("status", &["open", "solved", "new"]),
        ("segment", &["enterprise", "mid_market", "smb"]),
    ];
    texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let filter = (i % 2 == 1).then(|| {
                let (name, values) = filters[(i / 2) % filters.len()];
                (name, values[rng.gen_range(0..values.len())].to_owned())
            });
            BenchQuery { text, filter }
        })
        .collect()
}

/// The item as a connector hands it to the store; `account_external_ids[n]` is the
/// external id of account `n`.
pub fn record(item: BenchItem, account_external_ids: &[String]) -> Record {
    let comments = item
        .comments
        .into_iter()
        .enumerate()
        .map(|(n, body)| chorus_core::Comment {
            external_id: format!("{}-c{n}", item.external_id),
            author: Person::default(),
            body,
            public: true,
            created_at: item.updated_at,
        })
        .collect();
    Record::Item(ItemRecord {
        external_id: item.external_id,
        key: None,
        kind: item.kind,
        title: item.title,
        body: item.body,
        comments,
        url: None,
        status: item.status.into(),
        priority: None,
        tags: vec![],
        author: Person::default(),
        account_external_id: item.account.map(|n| account_external_ids[n].clone()),
        account_name: None,
        csat: None,
        created_at: item.created_at,
        updated_at: item.updated_at,
        raw: serde_json::Value::Null,
    })
}
