//! Health on hand-made accounts: each risk flag, its reason, and the upsell rule.

use chrono::TimeZone;

use super::*;
use crate::money::{Currency, Money, Rate};
use crate::priority::Probability;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().expect("valid time")
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

fn item(kind: Kind, open: bool, age_days: i64) -> HealthItem {
    HealthItem {
        kind,
        open,
        created_at: days_ago(age_days),
        csat: None,
        opportunity_id: None,
        open_request_ids: Vec::new(),
        capabilities: Vec::new(),
    }
}

fn rates() -> ExchangeRates {
    ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, "1.25".parse::<Rate>().expect("rate"))
}

fn health(
    items: &[HealthItem],
    renewal: Option<NaiveDate>,
    opportunities: &[Opportunity],
    thresholds: &HealthThresholds,
) -> Health {
    let input =
        HealthInput { account_id: 1, plan: Some("Team"), renewal_date: renewal, items, opportunities, now: now() };
    account_health(&input, thresholds, &rates()).expect("health")
}

fn opportunity(id: i64, amount: Money, open: bool) -> Opportunity {
    Opportunity { id, account_id: 1, amount, probability: Probability::from_percent(50.0).expect("p"), open }
}

#[test]
fn a_renewal_with_open_blockers_is_a_risk_with_its_reason() {
    let blockers = [
        HealthItem { opportunity_id: Some(7), ..item(Kind::SalesBlocker, true, 3) },
        HealthItem { opportunity_id: Some(7), ..item(Kind::SalesBlocker, true, 2) },
        HealthItem { opportunity_id: Some(8), ..item(Kind::SalesBlocker, false, 2) },
    ];
    let opportunities = [
        opportunity(7, Money::new(4_000_000, Currency::EUR), true),
        opportunity(8, Money::new(9_000_000, Currency::USD), true),
        opportunity(9, Money::new(1_000_000, Currency::USD), true),
    ];
    let renewal = NaiveDate::from_ymd_opt(2027, 1, 15);
    let h = health(&blockers, renewal, &opportunities, &HealthThresholds::default());
    assert_eq!(h.open_blockers, 2);
    // opportunity 7 once (40 000.00 EUR = 50 000.00 USD); 8's blocker is closed; 9 is not named
    assert_eq!(h.blocked_pipeline_minor, 5_000_000);
    assert_eq!(
        h.risks,
        [Risk {
            kind: RiskKind::RenewalWithOpenBlockers,
            reason: "renews on 2027-01-15 (in 45 days) with 2 open sales blocker(s)".into()
        }]
    );
    let far = health(&blockers, NaiveDate::from_ymd_opt(2027, 6, 1), &opportunities, &HealthThresholds::default());
    assert!(far.risks.is_empty(), "a renewal beyond 90 days is no risk yet");
    let unnamed = [item(Kind::SalesBlocker, true, 1)];
    assert_eq!(health(&unnamed, None, &opportunities, &HealthThresholds::default()).blocked_pipeline_minor, 15_000_000);
}

#[test]
fn bug_volume_doubling_in_thirty_days_is_flagged() {
    let mut items: Vec<HealthItem> = (0..6).map(|n| item(Kind::Bug, n % 2 == 0, n * 4)).collect();
    items.extend((0..3).map(|n| item(Kind::Bug, false, 35 + n)));
    let h = health(&items, None, &[], &HealthThresholds::default());
    assert_eq!((h.bugs.recent, h.bugs.previous), (6, 3));
    assert_eq!(h.bugs.change_percent, Some(100.0));
    assert_eq!(h.open_bugs, 3);
    assert_eq!(h.risks.len(), 1);
    assert_eq!(h.risks[0].kind, RiskKind::BugVolumeDoubled);
    assert_eq!(h.risks[0].reason, "6 bugs in the last 30 days, 3 in the 30 days before");

    let steady: Vec<HealthItem> = (0..10).map(|n| item(Kind::Bug, true, n * 6)).collect();
    assert!(health(&steady, None, &[], &HealthThresholds::default()).risks.is_empty(), "5 then 5 is no spike");
    let few = [item(Kind::Bug, true, 1), item(Kind::Bug, true, 2)];
    assert!(health(&few, None, &[], &HealthThresholds::default()).risks.is_empty(), "0 → 2 is under the minimum");
}

#[test]
fn low_csat_is_flagged_over_enough_recent_ratings() {
    let rated = |rating, age| HealthItem { csat: Some(rating), ..item(Kind::SupportTicket, false, age) };
    let items = [rated(1.0, 5), rated(0.0, 10), rated(0.0, 20), rated(1.0, 200)];
    let h = health(&items, None, &[], &HealthThresholds::default());
    let csat = h.csat.expect("rated");
    assert_eq!(csat.ratings, 3, "the rating of 200 days ago is outside the window");
    assert!((csat.average - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(h.risks[0].kind, RiskKind::LowCsat);
    assert_eq!(h.risks[0].reason, "CSAT 0.33 over 3 rating(s) in 90 days, below 0.70");
    let lenient = HealthThresholds { csat_threshold: 0.3, ..HealthThresholds::default() };
    assert!(health(&items, None, &[], &lenient).risks.is_empty());
}

#[test]
fn history_trend_and_requests_waited_on() {
    let items = [
        HealthItem { open_request_ids: vec![4, 2], ..item(Kind::FeatureRequest, true, 1) },
        HealthItem { open_request_ids: vec![2], ..item(Kind::SupportTicket, false, 10) },
        item(Kind::SupportTicket, true, 40),
        item(Kind::SupportTicket, true, 45),
        item(Kind::Bug, false, 170),
        item(Kind::Bug, false, 400),
    ];
    let h = health(&items, None, &[], &HealthThresholds::default());
    assert_eq!(h.history.len(), 6);
    assert_eq!(h.history[5].end, now());
    let count = |period: &Period, kind: Kind| period.kinds[kind as usize];
    assert_eq!(
        count(&h.history[5], Kind::FeatureRequest),
        KindCount { kind: Kind::FeatureRequest, open: 1, closed: 0 }
    );
    assert_eq!(count(&h.history[5], Kind::SupportTicket).closed, 1);
    assert_eq!(count(&h.history[4], Kind::SupportTicket).open, 2);
    assert_eq!(count(&h.history[0], Kind::Bug).closed, 1, "170 days ago is in the oldest period; 400 is before it");
    assert_eq!((h.tickets.recent, h.tickets.previous), (1, 2));
    assert_eq!(h.tickets.change_percent, Some(-50.0));
    assert_eq!(h.waiting_on, [2, 4]);
}

#[test]
fn asking_for_a_higher_plans_capability_is_an_upsell_signal() {
    let thresholds = HealthThresholds {
        plans: vec![
            Plan { name: "team".into(), capabilities: vec!["csv-export".into()] },
            Plan { name: "business".into(), capabilities: vec!["SSO".into(), "audit-log".into()] },
            Plan { name: "enterprise".into(), capabilities: vec!["scim".into(), "sso".into()] },
        ],
        ..HealthThresholds::default()
    };
    let asking = |capabilities: &[&str]| HealthItem {
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        ..item(Kind::FeatureRequest, true, 1)
    };
    let items = [asking(&["sso", "csv-export"]), asking(&["SSO", "sso"]), asking(&["scim"]), asking(&["dark-mode"])];
    let h = health(&items, None, &[], &thresholds);
    let signals: Vec<_> = h.upsell.iter().map(|u| (u.capability.as_str(), u.plan.as_str(), u.items)).collect();
    // csv-export is in the account's own plan; dark-mode in none; sso first in business
    assert_eq!(signals, [("scim", "enterprise", 1), ("sso", "business", 2)]);
    let input =
        HealthInput { account_id: 1, plan: None, renewal_date: None, items: &items, opportunities: &[], now: now() };
    assert!(account_health(&input, &thresholds, &rates()).expect("health").upsell.is_empty(), "no plan, no signal");
}

#[test]
fn thresholds_are_validated_and_unvalidated_ones_never_panic() {
    assert!(HealthThresholds::default().validate().is_ok());
    let zero = HealthThresholds { period_days: 0, periods: 0, bug_window_days: 0, ..HealthThresholds::default() };
    assert!(zero.validate().expect_err("zero days").contains("bug_window_days"));
    let h = health(&[item(Kind::Bug, true, 0)], None, &[], &zero);
    assert!(h.history.is_empty());
    let twice = HealthThresholds {
        plans: vec![
            Plan { name: "Team".into(), capabilities: vec![] },
            Plan { name: "team".into(), capabilities: vec![] },
        ],
        ..HealthThresholds::default()
    };
    assert!(twice.validate().expect_err("duplicate plan").contains("plans[1]"));
    let missing = [opportunity(1, Money::new(1, "GBP".parse().expect("GBP")), true)];
    let input = HealthInput {
        account_id: 1,
        plan: None,
        renewal_date: None,
        items: &[item(Kind::SalesBlocker, true, 1)],
        opportunities: &missing,
        now: now(),
    };
    assert!(matches!(
        account_health(&input, &HealthThresholds::default(), &rates()),
        Err(MoneyError::MissingRate { .. })
    ));
}

#[test]
fn windows_longer_than_the_calendar_are_refused_and_never_panic() {
    let huge = HealthThresholds {
        period_days: u32::MAX,
        periods: 120,
        bug_window_days: u32::MAX,
        csat_window_days: u32::MAX,
        trend_window_days: u32::MAX,
        ..HealthThresholds::default()
    };
    let items = [HealthItem { csat: Some(0.5), ..item(Kind::Bug, true, 3) }, item(Kind::SupportTicket, true, 4000)];
    let h = health(&items, None, &[], &huge);
    assert_eq!((h.bugs.recent, h.tickets.recent), (1, 1), "everything falls in the last window");
    assert_eq!(h.csat.map(|c| c.ratings), Some(1));
    assert_eq!(h.history.last().map(|p| p.end), Some(now()));
    assert!(huge.validate().expect_err("too long").contains("bug_window_days"));
    let long = HealthThresholds { period_days: 1_000_000, ..HealthThresholds::default() };
    assert!(long.validate().expect_err("too long").contains("period_days"));
}

#[test]
fn done_statuses_of_every_source_are_closed() {
    for done in ["solved", "Closed", "Done", "RESOLVED", "Closed - Won", "won't fix"] {
        assert!(!super::is_open_status(done), "{done} is done");
    }
    for open in ["new", "open", "pending", "hold", "In Progress", "To Do", ""] {
        assert!(super::is_open_status(open), "{open} is open");
    }
}
