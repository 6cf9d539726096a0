//! Times ranking: `cargo run --release -p chorus-core --example rank [ASKS] [REQUESTS]`.
//!
//! Synthetic data (a fixed-seed generator, no I/O): 50 000 accounts in two currencies,
//! one in ten a child of another, 5 000 open opportunities, and ASKS asks (default
//! 1 000 000) spread over REQUESTS requests (default 10 000). Prints the time to fold the
//! asks into per-request aggregates, to prepare the model, and to rank from the aggregates.

use std::time::Instant;

use chorus_core::money::{Currency, ExchangeRates, Money, Rate};
use chorus_core::priority::{demand_from_asks, AccountFacts, Ask, Opportunity, PersonId, Probability};
use chorus_core::{Kind, PriorityModel, PriorityWeights};
use chrono::{Duration, TimeZone, Utc};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let asks: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let requests: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().ok_or("time")?;
    let mut rng = Lcg(42);
    let accounts: Vec<AccountFacts> = (0..50_000_i64)
        .map(|id| AccountFacts {
            id,
            arr: Money::new(rng.below(50_000_000) as i64, if id % 3 == 0 { Currency::EUR } else { Currency::USD }),
            segment: Some(["enterprise", "mid-market", "smb"][id as usize % 3].to_owned()),
            renewal_date: Some(now.date_naive() + Duration::days(rng.below(400) as i64)),
            parent_id: (id % 10 == 9).then(|| id - 9),
        })
        .collect();
    let opportunities = (0..5_000_i64)
        .map(|id| {
            Ok(Opportunity {
                id,
                account_id: id * 10,
                amount: Money::new(rng.below(20_000_000) as i64, Currency::USD),
                probability: Probability::from_percent(rng.below(101) as f64)?,
                open: id % 4 != 0,
            })
        })
        .collect::<Result<Vec<_>, chorus_core::priority::PriorityError>>()?;
    let kinds = Kind::ALL;
    let raw: Vec<Ask> = (0..asks)
        .map(|n| {
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            Ask {
                request_id: rng.below(requests) as i64,
                account_id: (n % 20 != 0).then(|| rng.below(50_000) as i64),
                kind,
                asked_at: now - Duration::minutes(rng.below(60 * 24 * 365) as i64),
                author: Some(PersonId(rng.below(400_000))),
                arr_at_ask: None,
                opportunity_id: (kind == Kind::SalesBlocker && n % 2 == 0).then(|| rng.below(5_000) as i64),
            }
        })
        .collect();
    let rates = ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, "1.08".parse::<Rate>()?);

    let started = Instant::now();
    let demands = demand_from_asks(raw);
    let folded = started.elapsed();
    let started = Instant::now();
    let model = PriorityModel::new(PriorityWeights::default(), rates, &accounts, &opportunities, now)?;
    let prepared = started.elapsed();
    let started = Instant::now();
    let ranked = model.rank(&demands)?;
    let ranking = started.elapsed();
    let top = ranked.first().ok_or("no request")?;
    println!(
        "{asks} asks, {} requests: fold {folded:.1?}, prepare {prepared:.1?}, rank {ranking:.1?}; top request {} scores {:.0} over {} accounts",
        demands.len(),
        top.request_id,
        top.score,
        top.counts.accounts
    );
    Ok(())
}
