//! Scores pinned on hand-computed examples; `worked_example_of_the_docs` is the one
//! `docs/prioritization.md` walks through, number for number.

use chrono::{Duration, NaiveDate, TimeZone};

use super::*;
use crate::money::{Currency, Rate};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().expect("valid time")
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn rates() -> ExchangeRates {
    ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, "1.25".parse::<Rate>().expect("rate"))
}

fn account(id: i64, arr: Money) -> AccountFacts {
    AccountFacts { id, arr, segment: None, renewal_date: None, parent_id: None }
}

fn ask(request_id: i64, account_id: Option<i64>, kind: Kind, asked_at: DateTime<Utc>, who: &str) -> Ask {
    Ask {
        request_id,
        account_id,
        kind,
        asked_at,
        author: Some(PersonId::of_email(who)),
        arr_at_ask: None,
        opportunity_id: None,
    }
}

fn score_of(
    weights: PriorityWeights,
    accounts: &[AccountFacts],
    opportunities: &[Opportunity],
    asks: Vec<Ask>,
) -> Score {
    let model = PriorityModel::new(weights, rates(), accounts, opportunities, now()).expect("model");
    let demands = demand_from_asks(asks);
    assert_eq!(demands.len(), 1, "one request");
    model.score(&demands[0]).expect("score")
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() <= expected.abs() * 1e-12 + 1e-9, "{actual} != {expected}");
}

#[test]
fn an_account_counts_once_however_many_of_its_people_asked() {
    let accounts = [account(1, usd(10_000_000)), account(2, usd(5_000_000))];
    let asks = vec![
        ask(7, Some(1), Kind::FeatureRequest, now(), "ann@acme.com"),
        ask(7, Some(1), Kind::FeatureRequest, now(), "bob@acme.com"),
        ask(7, Some(1), Kind::FeatureRequest, now(), "cy@acme.com"),
        ask(7, Some(1), Kind::FeatureRequest, now(), "ANN@acme.com "),
        ask(7, Some(2), Kind::FeatureRequest, now(), "dee@globex.com"),
    ];
    let score = score_of(PriorityWeights::default(), &accounts, &[], asks);
    // 100 000.00 + 50 000.00, not 4 × 100 000.00 + 50 000.00
    assert_close(score.score, 15_000_000.0);
    assert_eq!(score.counts, Counts { items: 5, people: 4, accounts: 2, opportunities: 0 });
    assert_eq!(score.accounts[0].account_id, 1);
    assert_eq!((score.accounts[0].items, score.accounts[0].people), (4, 3));
}

#[test]
fn two_currencies_are_converted_before_they_are_added() {
    let accounts = [account(1, usd(10_000_000)), account(2, eur(8_000_000))];
    let asks =
        vec![ask(7, Some(1), Kind::Bug, now(), "ann@acme.com"), ask(7, Some(2), Kind::Bug, now(), "dee@globex.de")];
    let score = score_of(PriorityWeights::default(), &accounts, &[], asks);
    // 80 000.00 EUR × 1.25 = 100 000.00 USD
    assert_eq!(score.accounts.iter().map(|a| a.arr_minor).collect::<Vec<_>>(), [10_000_000, 10_000_000]);
    assert_close(score.score, 20_000_000.0);

    let pounds = [account(3, Money::new(100, "GBP".parse().expect("GBP")))];
    let err = PriorityModel::new(PriorityWeights::default(), rates(), &pounds, &[], now()).err().expect("no GBP rate");
    assert_eq!(
        err.to_string(),
        "account 3: no exchange rate from GBP to USD: add `GBP = \"<USD per GBP>\"` under [money.rates]"
    );
}

#[test]
fn recency_halves_per_half_life_of_the_newest_ask() {
    let accounts = [account(1, usd(10_000_000))];
    let at = |days| {
        score_of(
            PriorityWeights::default(),
            &accounts,
            &[],
            vec![ask(7, Some(1), Kind::Bug, days_ago(days), "a@acme.com")],
        )
    };
    assert_close(at(90).score, 5_000_000.0);
    assert_close(at(180).score, 2_500_000.0);
    assert_close(at(-3).score, 10_000_000.0);
    // the newest of an account's asks sets its age
    let asks = vec![
        ask(7, Some(1), Kind::Bug, days_ago(360), "a@acme.com"),
        ask(7, Some(1), Kind::Bug, days_ago(90), "b@acme.com"),
    ];
    let score = score_of(PriorityWeights::default(), &accounts, &[], asks);
    assert_close(score.accounts[0].age_days, 90.0);
    assert_close(score.score, 5_000_000.0);
}

#[test]
fn a_renewal_within_the_window_boosts_the_account() {
    let with_renewal = |renewal| {
        let accounts = [AccountFacts { renewal_date: renewal, ..account(1, usd(10_000_000)) }];
        score_of(PriorityWeights::default(), &accounts, &[], vec![ask(7, Some(1), Kind::Bug, now(), "a@acme.com")])
    };
    assert_close(with_renewal(Some(date(2026, 12, 31))).score, 15_000_000.0);
    assert_close(with_renewal(Some(date(2027, 3, 1))).score, 15_000_000.0); // 90 days: still inside
    assert_close(with_renewal(Some(date(2027, 3, 2))).score, 10_000_000.0); // 91 days
    assert_close(with_renewal(Some(date(2026, 11, 30))).score, 10_000_000.0); // already past
    assert_close(with_renewal(None).score, 10_000_000.0);
    assert_eq!(with_renewal(Some(date(2026, 12, 31))).accounts[0].renewal_in_days, Some(30));
}

#[test]
fn a_childs_asks_roll_up_to_its_top_most_parent() {
    let mut weights = PriorityWeights::default();
    weights.segments.insert("enterprise".into(), 1.2);
    let accounts = [
        AccountFacts { segment: Some("Enterprise".into()), ..account(10, usd(2_000_000)) },
        AccountFacts { parent_id: Some(10), ..account(11, usd(3_000_000)) },
        AccountFacts { parent_id: Some(11), ..account(12, usd(1_000_000)) },
    ];
    let asks = || {
        vec![
            ask(7, Some(11), Kind::FeatureRequest, now(), "ann@eu.initech.com"),
            ask(7, Some(12), Kind::FeatureRequest, now(), "bob@fr.initech.com"),
        ]
    };
    let rolled = score_of(weights.clone(), &accounts, &[], asks());
    // the family once: (20 000 + 30 000 + 10 000) × the parent's segment weight 1.2
    assert_eq!(rolled.counts.accounts, 1);
    assert_eq!(rolled.accounts[0].account_id, 10);
    assert_eq!(rolled.accounts[0].arr_minor, 6_000_000);
    assert_eq!(rolled.accounts[0].members.iter().map(|m| m.account_id).collect::<Vec<_>>(), [11, 12]);
    assert_close(rolled.score, 7_200_000.0);

    let apart = score_of(PriorityWeights { parent_rollup: false, ..weights.clone() }, &accounts, &[], asks());
    // each child alone, with its own ARR and no segment
    assert_eq!(apart.counts.accounts, 2);
    assert_close(apart.score, 4_000_000.0);

    // the family's soonest renewal counts for the family
    let mut renewing = accounts.clone();
    renewing[2].renewal_date = Some(date(2026, 12, 11));
    assert_close(score_of(weights, &renewing, &[], asks()).score, 10_800_000.0);
}

#[test]
fn a_parent_cycle_ends_and_counts_the_family_once() {
    let accounts = [
        AccountFacts { parent_id: Some(21), ..account(20, usd(100)) },
        AccountFacts { parent_id: Some(20), ..account(21, usd(200)) },
        AccountFacts { parent_id: Some(99), ..account(22, usd(400)) }, // unknown parent: its own root
    ];
    let asks = vec![
        ask(7, Some(21), Kind::Bug, now(), "a@x.com"),
        ask(7, Some(20), Kind::Bug, now(), "b@x.com"),
        ask(7, Some(22), Kind::Bug, now(), "c@x.com"),
    ];
    let score = score_of(PriorityWeights::default(), &accounts, &[], asks);
    assert_eq!(score.accounts.iter().map(|a| (a.account_id, a.arr_minor)).collect::<Vec<_>>(), [(22, 400), (20, 300)]);
}

#[test]
fn open_pipeline_counts_amount_times_probability_once_per_opportunity() {
    let accounts = [account(1, usd(0)), account(2, usd(10_000_000))];
    let opportunity = |id, account_id, amount, percent, open| Opportunity {
        id,
        account_id,
        amount,
        probability: Probability::from_percent(percent).expect("probability"),
        open,
    };
    let opportunities = [
        opportunity(100, 1, eur(20_000_000), 40.0, true),
        opportunity(101, 1, usd(90_000_000), 90.0, false),
        opportunity(102, 2, usd(5_000_000), 50.0, true),
        opportunity(103, 2, usd(70_000_000), 100.0, false),
    ];
    let blocker =
        |account, opportunity_id, who| Ask { opportunity_id, ..ask(7, Some(account), Kind::SalesBlocker, now(), who) };
    let asks = vec![
        blocker(1, Some(100), "p@hooli.com"),
        blocker(1, Some(100), "q@hooli.com"),
        blocker(1, Some(101), "q@hooli.com"),
        blocker(2, None, "r@acme.com"),
    ];
    let score = score_of(PriorityWeights::default(), &accounts, &opportunities, asks);
    // 200 000.00 EUR → 250 000.00 USD × 0.4, once; 50 000.00 USD × 0.5; closed ones never
    let pipeline: Vec<_> = score.pipeline.iter().map(|p| (p.opportunity_id, p.contribution)).collect();
    assert_eq!(pipeline, [(100, 10_000_000.0), (102, 2_500_000.0)]);
    assert_close(score.pipeline_total, 12_500_000.0);
    assert_close(score.accounts_total, 10_000_000.0);
    assert_close(score.score, 22_500_000.0);
    assert_eq!(score.counts.opportunities, 2);
    assert!(Probability::from_percent(101.0).is_err());
    assert!(Probability::from_percent(f64::NAN).is_err());
}

#[test]
fn a_churned_account_shows_as_churned_and_adds_nothing() {
    let accounts = [account(1, usd(0)), account(2, eur(4_000_000))];
    let with_arr = |a: Ask, arr| Ask { arr_at_ask: Some(arr), ..a };
    let asks = vec![
        with_arr(ask(7, Some(1), Kind::FeatureRequest, days_ago(200), "a@gone.com"), usd(10_000_000)),
        with_arr(ask(7, Some(2), Kind::FeatureRequest, days_ago(300), "b@less.de"), eur(6_000_000)),
        with_arr(ask(7, Some(2), Kind::FeatureRequest, now(), "c@less.de"), eur(8_000_000)),
    ];
    let score = score_of(PriorityWeights::default(), &accounts, &[], asks);
    let churned = score.accounts.iter().find(|a| a.account_id == 1).expect("churned account listed");
    assert_eq!(churned.members[0].arr_change, ArrChange::Churned);
    assert_eq!(churned.members[0].arr_at_ask_minor, Some(10_000_000));
    assert_eq!(churned.contribution, 0.0);
    let shrunk = score.accounts.iter().find(|a| a.account_id == 2).expect("shrunk account listed");
    // the newest ask's ARR (80 000.00 EUR = 100 000.00 USD) against 40 000.00 EUR = 50 000.00 USD now
    assert_eq!((shrunk.members[0].arr_at_ask_minor, shrunk.members[0].arr_minor), (Some(10_000_000), 5_000_000));
    assert_eq!(shrunk.members[0].arr_change, ArrChange::Shrunk);
    assert_close(score.score, 5_000_000.0);
}

#[test]
fn bad_input_is_a_clear_error() {
    let model =
        PriorityModel::new(PriorityWeights::default(), rates(), &[account(1, usd(1))], &[], now()).expect("model");
    let demands = demand_from_asks(vec![ask(7, Some(2), Kind::Bug, now(), "a@x.com")]);
    let err = model.score(&demands[0]).expect_err("account 2 unknown");
    assert_eq!(err, PriorityError::UnknownAccount { request_id: 7, account_id: 2 });
    let negative = PriorityWeights { renewal_boost: -1.0, ..PriorityWeights::default() };
    let err = PriorityModel::new(negative, rates(), &[], &[], now()).err().expect("negative weight");
    assert!(err.to_string().contains("renewal_boost"), "{err}");
    let flat = PriorityWeights { recency_half_life_days: 0.0, ..PriorityWeights::default() };
    assert!(flat.validate().is_err());
}

#[test]
fn weights_read_from_config_with_defaults_and_refuse_unknown_keys() {
    let weights: PriorityWeights =
        serde_json::from_str(r#"{"kind": {"support_ticket": 0.25}, "segments": {"enterprise": 1.2}}"#)
            .expect("weights");
    assert_eq!(weights.kind.support_ticket, 0.25);
    assert_eq!(weights.kind.bug, 1.0);
    assert_eq!(weights.recency_half_life_days, 90.0);
    assert!(weights.parent_rollup);
    assert!(serde_json::from_str::<PriorityWeights>(r#"{"half_life": 30}"#).is_err());
    assert!(serde_json::from_str::<PriorityWeights>(r#"{"kind": {"bugs": 2}}"#).is_err());
}

#[test]
fn ranking_orders_by_score_and_keeps_every_request() {
    let accounts = [account(1, usd(1_000)), account(2, usd(3_000))];
    let asks = vec![
        ask(1, Some(1), Kind::Bug, now(), "a@x.com"),
        ask(2, Some(2), Kind::Bug, now(), "b@y.com"),
        ask(3, None, Kind::Bug, now(), "c@gmail.com"),
        ask(4, Some(1), Kind::Bug, now(), "a@x.com"),
    ];
    let model = PriorityModel::new(PriorityWeights::default(), rates(), &accounts, &[], now()).expect("model");
    let ranked = model.rank(&demand_from_asks(asks)).expect("rank");
    assert_eq!(ranked.iter().map(|s| s.request_id).collect::<Vec<_>>(), [2, 1, 4, 3]);
    assert_eq!(ranked[3].counts, Counts { items: 1, people: 1, accounts: 0, opportunities: 0 });
}

fn weights_of_the_example() -> PriorityWeights {
    let mut weights = PriorityWeights::default();
    weights.segments.insert("enterprise".into(), 1.2);
    weights
}

fn asks_of_the_example() -> Vec<Ask> {
    vec![
        Ask {
            arr_at_ask: Some(usd(10_000_000)),
            ..ask(42, Some(1), Kind::FeatureRequest, days_ago(120), "ann@acme.com")
        },
        ask(42, Some(1), Kind::FeatureRequest, days_ago(100), "bob@acme.com"),
        ask(42, Some(1), Kind::FeatureRequest, days_ago(90), "cy@eu.acme.com"),
        ask(42, Some(2), Kind::SupportTicket, days_ago(10), "dee@globex.de"),
        ask(42, Some(2), Kind::Bug, now(), "eve@globex.de"),
        ask(42, Some(4), Kind::SupportTicket, days_ago(180), "fay@eu.initech.com"),
        Ask { opportunity_id: Some(9), ..ask(42, Some(5), Kind::SalesBlocker, days_ago(5), "gus@hooli.com") },
        ask(42, None, Kind::FeatureRequest, days_ago(2), "hal@gmail.com"),
    ]
}

/// The example of `docs/prioritization.md`: keep the two in step.
#[test]
fn worked_example_of_the_docs() {
    let weights = weights_of_the_example();
    let accounts = [
        AccountFacts {
            segment: Some("enterprise".into()),
            renewal_date: Some(date(2027, 1, 15)),
            ..account(1, usd(12_000_000))
        },
        AccountFacts { segment: Some("mid-market".into()), ..account(2, eur(8_000_000)) },
        AccountFacts { renewal_date: Some(date(2027, 6, 1)), ..account(3, usd(3_000_000)) },
        AccountFacts { parent_id: Some(3), ..account(4, usd(2_000_000)) },
        account(5, usd(0)),
    ];
    let opportunities = [Opportunity {
        id: 9,
        account_id: 5,
        amount: usd(15_000_000),
        probability: Probability::from_percent(40.0).expect("probability"),
        open: true,
    }];
    let score = score_of(weights, &accounts, &opportunities, asks_of_the_example());
    let rows: Vec<_> = score
        .accounts
        .iter()
        .map(|a| {
            (
                a.account_id,
                a.arr_minor,
                a.kind,
                a.kind_weight,
                a.recency,
                a.segment_weight,
                a.renewal_boost,
                a.contribution,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, 12_000_000, Kind::FeatureRequest, 1.0, 0.5, 1.2, 1.5, 10_800_000.0),
            (2, 10_000_000, Kind::Bug, 1.0, 1.0, 1.0, 1.0, 10_000_000.0),
            (3, 5_000_000, Kind::SupportTicket, 0.5, 0.25, 1.0, 1.0, 625_000.0),
            (5, 0, Kind::SalesBlocker, 1.0, 0.5_f64.powf(5.0 / 90.0), 1.0, 1.0, 0.0),
        ]
    );
    assert_eq!(score.accounts[0].members[0].arr_change, ArrChange::Grew);
    assert_eq!(score.accounts[0].renewal_in_days, Some(45));
    assert_eq!(score.accounts[2].members[0].account_id, 4);
    assert_eq!(score.pipeline.len(), 1);
    assert_eq!((score.pipeline[0].amount_minor, score.pipeline[0].contribution), (15_000_000, 6_000_000.0));
    assert_eq!(score.counts, Counts { items: 8, people: 8, accounts: 4, opportunities: 1 });
    assert_close(score.score, 27_425_000.0);

    // the ranking's lean pass gives the same numbers as the breakdown
    let model = PriorityModel::new(weights_of_the_example(), rates(), &accounts, &opportunities, now()).expect("model");
    let ranked = model.rank(&demand_from_asks(asks_of_the_example())).expect("rank");
    assert_eq!(ranked[0].counts, score.counts);
    assert_close(ranked[0].score, score.score);
    assert_close(ranked[0].pipeline_total, score.pipeline_total);
}

/// Varied data from a fixed-seed generator: two currencies, children and a parent
/// cycle, open and closed opportunities, blockers that name one and blockers that name
/// none, asks of every kind and age, and asks resolved to no account.
fn generated() -> (Vec<AccountFacts>, Vec<Opportunity>, Vec<Ask>) {
    let mut state: u64 = 7;
    let mut below = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut accounts: Vec<AccountFacts> = (1..=60)
        .map(|id| AccountFacts {
            id,
            arr: if id % 3 == 0 { eur(below(9_000_000) as i64) } else { usd(below(9_000_000) as i64) },
            segment: [None, Some("Enterprise".to_owned()), Some("smb".to_owned())][id as usize % 3].clone(),
            renewal_date: (id % 4 == 0).then(|| now().date_naive() + Duration::days(below(200) as i64 - 20)),
            parent_id: (id % 5 == 0).then(|| id - 1 - (id % 7)),
        })
        .collect();
    accounts[58].parent_id = Some(60);
    accounts[59].parent_id = Some(59);
    let opportunities: Vec<Opportunity> = (1..=40)
        .map(|id| Opportunity {
            id,
            account_id: 1 + below(60) as i64,
            amount: if id % 2 == 0 { eur(below(5_000_000) as i64) } else { usd(below(5_000_000) as i64) },
            probability: Probability::from_percent(below(101) as f64).expect("probability"),
            open: id % 5 != 0,
        })
        .collect();
    let asks: Vec<Ask> = (0..3_000)
        .map(|n| {
            let kind = Kind::ALL[below(4) as usize];
            Ask {
                request_id: below(90) as i64,
                account_id: (n % 11 != 0).then(|| 1 + below(60) as i64),
                kind,
                asked_at: now() - Duration::hours(below(24 * 400) as i64 - 48),
                author: Some(PersonId(below(500))),
                arr_at_ask: (n % 3 == 0).then(|| usd(below(9_000_000) as i64)),
                opportunity_id: (kind == Kind::SalesBlocker && n % 2 == 0).then(|| 1 + below(45) as i64),
            }
        })
        .collect();
    (accounts, opportunities, asks)
}

#[test]
fn rank_gives_every_request_the_numbers_of_its_breakdown() {
    let (accounts, opportunities, asks) = generated();
    let demands = demand_from_asks(asks);
    assert_eq!(demands.len(), 90);
    for parent_rollup in [true, false] {
        let weights = PriorityWeights { parent_rollup, ..weights_of_the_example() };
        let model = PriorityModel::new(weights, rates(), &accounts, &opportunities, now()).expect("model");
        let ranked = model.rank(&demands).expect("rank");
        assert_eq!(ranked.len(), demands.len(), "every request ranked");
        for pair in ranked.windows(2) {
            assert!(pair[0].score >= pair[1].score, "highest first");
        }
        for place in &ranked {
            let demand = demands.iter().find(|d| d.request_id == place.request_id).expect("ranked request");
            let score = model.score(demand).expect("score");
            // the same numbers to the last bit, not merely close
            assert_eq!(
                (place.score, place.accounts_total, place.pipeline_total, place.counts),
                (score.score, score.accounts_total, score.pipeline_total, score.counts),
                "request {}",
                place.request_id
            );
            assert_close(score.accounts_total, score.accounts.iter().map(|a| a.contribution).sum());
            assert_close(score.pipeline_total, score.pipeline.iter().map(|p| p.contribution).sum());
            assert_eq!(score.counts.accounts as usize, score.accounts.len());
            assert_eq!(score.counts.opportunities as usize, score.pipeline.len());
        }
    }
}

#[test]
fn a_probability_is_a_percent_from_zero_to_a_hundred() {
    assert_eq!(Probability::from_percent(40.0).map(Probability::fraction), Ok(0.4));
    assert_eq!(Probability::from_percent(0.0).map(Probability::fraction), Ok(0.0));
    assert_eq!(Probability::from_percent(100.0).map(Probability::fraction), Ok(1.0));
    for bad in [-0.5, 100.5, f64::INFINITY, f64::NAN] {
        assert!(Probability::from_percent(bad).is_err(), "{bad}% should be refused");
    }
}

/// Many requests over many accounts (parents, two currencies, blockers, sparse ids):
/// enough entries that `rank` splits the work between threads.
fn large_input() -> (Vec<AccountFacts>, Vec<Opportunity>, Vec<Ask>) {
    let accounts: Vec<AccountFacts> = (1..=3_000_i64)
        .map(|i| AccountFacts {
            id: i * 7,
            arr: if i % 3 == 0 { eur(i * 10_000) } else { usd(i * 9_000) },
            segment: Some(["enterprise", "mid-market", "smb"][(i % 3) as usize].to_owned()),
            renewal_date: Some(now().date_naive() + Duration::days(i % 200)),
            parent_id: (i % 10 == 0).then(|| (i - 9) * 7),
        })
        .collect();
    let opportunities: Vec<Opportunity> = (1..=300_i64)
        .map(|i| Opportunity {
            id: i,
            account_id: (1 + i * 9 % 3_000) * 7,
            amount: usd(i * 50_000),
            probability: Probability::from_percent((i % 101) as f64).expect("probability"),
            open: i % 4 != 0,
        })
        .collect();
    let kinds = [Kind::Bug, Kind::FeatureRequest, Kind::SupportTicket, Kind::SalesBlocker];
    let asks = (0..120_000_i64)
        .map(|i| {
            let account = 1 + (i * 2_654_435_761 % 4_294_967_291) % 3_000;
            Ask {
                request_id: 1 + i % 2_000,
                account_id: (i % 17 != 0).then_some(account * 7),
                kind: kinds[(i % 4) as usize],
                asked_at: days_ago(i % 400) - Duration::microseconds(i * 37),
                author: Some(PersonId(i as u64 % 9_000)),
                arr_at_ask: (i % 5 != 0).then(|| if i % 2 == 0 { eur(i) } else { usd(i) }),
                opportunity_id: (i % 4 == 3 && i % 8 == 3).then_some(1 + i % 300),
            }
        })
        .collect();
    (accounts, opportunities, asks)
}

#[test]
fn ranking_on_several_threads_and_from_packed_demand_gives_each_requests_own_score() {
    let (accounts, opportunities, asks) = large_input();
    let mut demands = demand_from_asks(asks);
    // In the order packing keeps (a sum's last digits depend on the order of its terms).
    demands.iter_mut().for_each(|demand| demand.accounts.sort_by_key(|asks| asks.account_id));
    assert!(demands.iter().map(|d| d.accounts.len()).sum::<usize>() > 50_000, "large enough to split");
    let packed: Vec<PackedDemand> = demands.iter().map(PackedDemand::pack).collect();
    for rollup in [true, false] {
        let weights = PriorityWeights { parent_rollup: rollup, ..PriorityWeights::default() };
        let model = PriorityModel::new(weights, rates(), &accounts, &opportunities, now()).expect("model");
        let ranked = model.rank(&demands).expect("rank");
        assert!(model.rank(&packed).expect("rank packed") == ranked, "packed ranks exactly as plain");
        assert_eq!(ranked.len(), demands.len());
        assert!(ranked
            .windows(2)
            .all(|w| w[0].score > w[1].score || (w[0].score == w[1].score && w[0].request_id < w[1].request_id)));
        // Each request ranks with exactly the score its breakdown shows, computed alone.
        for placed in ranked.iter().step_by(97) {
            let demand = demands.iter().find(|d| d.request_id == placed.request_id).expect("demand");
            let score = model.score(demand).expect("score");
            assert_eq!((score.score, score.counts), (placed.score, placed.counts));
            let from_packed = model.score(&PackedDemand::pack(demand)).expect("score packed");
            assert_eq!(from_packed, score);
        }
    }
}

#[test]
fn a_corrupt_packed_demand_is_an_error_not_a_score() {
    let (accounts, opportunities, asks) = large_input();
    let demands = demand_from_asks(asks);
    let model =
        PriorityModel::new(PriorityWeights::default(), rates(), &accounts, &opportunities, now()).expect("model");
    let mut packed: Vec<PackedDemand> = demands.iter().map(PackedDemand::pack).collect();
    let victim = packed.len() / 2;
    let bytes = packed[victim].account_bytes();
    let cut = bytes[..bytes.len() - 1].to_vec();
    let old = &packed[victim];
    packed[victim] = PackedDemand::from_parts(
        old.request_id,
        cut,
        old.opportunities.clone(),
        old.unattributed_items,
        old.unattributed_people,
    );
    match model.rank(&packed) {
        Err(PriorityError::Packed(error)) => assert_eq!(error.request_id, packed[victim].request_id),
        other => panic!("expected a packed-demand error, got {other:?}"),
    }
}
