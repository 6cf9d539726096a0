//! The two-phase test: a full sync of the Zendesk simulator over real HTTP under a
//! heavy fault profile, then edits, a deletion, a ticket added exactly at the cursor
//! boundary and a ticket moved to another organization, then incremental syncs. The
//! store must equal the simulator's truth — nothing lost, duplicated, stale or left
//! behind — and the request log must show no request inside a `Retry-After` window and
//! the incremental exports paced under their limit. Requesters are never sideloaded,
//! so every ticket's requester email must come from the users export or a lookup.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chorus_core::Item;
use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig, ZendeskTruth};
use chorus_sim::{CutBody, CutForm, ErrorBurst, FaultProfile, Latency, RateLimitFault, SimServer, Trigger};
use chorus_store::Store;
use chorus_sync::connector::DynConnector;
use chorus_sync::http::HttpPolicy;
use chrono::DateTime;

use support::{snapshot, sync, BoxResult, Snapshot, TestResult};

const LIMIT: u32 = 10;
const WINDOW: Duration = Duration::from_secs(2);

fn heavy_faults() -> FaultProfile {
    FaultProfile {
        seed: 11,
        scope: None,
        rate_limit: Some(RateLimitFault::new(Trigger::Probability(0.06), Duration::from_secs(1))),
        error_burst: Some(ErrorBurst { after_n: 4, len: 3, status: 503 }),
        latency: Some(Latency { min: Duration::ZERO, max: Duration::from_millis(15), when: Trigger::Probability(0.3) }),
        // A few bodies in each export arrive cut short, empty or as a gateway's HTML page:
        // each is retried inside the run, which must not fail for it.
        cut_bodies: vec![
            CutBody::nth("/api/v2/incremental/organizations", 1),
            CutBody { path_prefix: "/api/v2/incremental/users".into(), when: Trigger::Nth(2), form: CutForm::Empty },
            CutBody::nth("/api/v2/incremental/tickets", 1),
            CutBody {
                path_prefix: "/api/v2/incremental/tickets".into(),
                when: Trigger::Nth(3),
                form: CutForm::NotJson,
            },
            // The one ticket the events cannot cover is read on its own: its answer is cut.
            CutBody::nth("/api/v2/tickets/", 1),
            CutBody::nth("/api/v2/incremental/ticket_events", 1),
            CutBody {
                path_prefix: "/api/v2/incremental/ticket_events".into(),
                when: Trigger::Nth(2),
                form: CutForm::NotJson,
            },
        ],
        wrong_shape: None,
        token_expiry: None,
    }
}

async fn connector(url: &str, store: &Arc<dyn Store>) -> BoxResult<Box<dyn DynConnector>> {
    let settings = serde_json::json!({
        "base_url": url,
        "auth": support::api_token_auth(&ZendeskSimConfig::default()),
        "page_size": 7,
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": LIMIT, "incremental_window_secs": WINDOW.as_secs_f64()},
    });
    let policy = HttpPolicy {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..HttpPolicy::default()
    };
    support::build(&settings, store, policy)
}

/// The store equals the simulator's truth, item by item.
fn assert_matches(snapshot: &Snapshot, truth: &ZendeskTruth) {
    let live: Vec<&Item> = snapshot.live_items().collect();
    assert_eq!(live.len(), truth.tickets.len(), "live items equal live tickets");
    for (id, ticket) in &truth.tickets {
        let item = snapshot.items.get(id).unwrap_or_else(|| panic!("ticket {id} is missing"));
        assert!(item.deleted_at.is_none(), "ticket {id} is live");
        assert_eq!(item.title, ticket.subject, "ticket {id} title");
        assert_eq!(item.status, ticket.status, "ticket {id} status");
        assert_eq!(item.comments.len(), ticket.comments.len().saturating_sub(1), "ticket {id} comments");
        assert!(!item.body.is_empty() && !item.body.contains('<'), "ticket {id} body is text: {}", item.body);
        let expected_csat = match ticket.satisfaction.as_ref().map(|(_, s)| s.as_str()) {
            Some("good") => Some(1.0),
            Some("bad") => Some(0.0),
            _ => None,
        };
        assert_eq!(item.csat, expected_csat, "ticket {id} csat");
        let requester_email =
            ticket.requester_id.and_then(|r| truth.users.get(&r.to_string())).and_then(|u| u.email.clone());
        if let Some(email) = requester_email {
            let stored = item.author_email.as_deref().map(str::to_ascii_lowercase);
            assert_eq!(stored, Some(email.to_ascii_lowercase()), "ticket {id} carries its requester's email");
        }
        let updated = DateTime::from_timestamp(ticket.updated_at, 0);
        assert_eq!(Some(item.updated_at), updated, "ticket {id} is not stale");
        if let Some(org) = ticket.organization_id {
            let account = item.account_id.and_then(|a| snapshot.account(a));
            let org_id = org.to_string();
            let linked = account.is_some_and(|a| a.external_ids.iter().any(|e| e.id == org_id));
            assert!(linked, "ticket {id} belongs to organization {org}, got {account:?}");
        }
    }
    for id in &truth.deleted_tickets {
        let live = snapshot.items.get(id).is_some_and(|i| i.deleted_at.is_none());
        assert!(!live, "deleted ticket {id} is left behind");
    }
    for user in truth.users.values().filter(|u| u.role == "end-user") {
        let email = user.email.as_deref().unwrap_or_default().to_ascii_lowercase();
        let contact = snapshot.contacts.iter().find(|c| c.email == email);
        assert!(contact.is_some(), "user {} ({email}) is a contact", user.id);
    }
    for (id, org) in &truth.organizations {
        let found = snapshot.accounts.iter().find(|a| a.external_ids.iter().any(|e| e.id == *id));
        assert_eq!(found.map(|a| a.name.as_str()), Some(org.name.as_str()), "organization {id}");
    }
}

/// No window of `WINDOW` holds more than `LIMIT` incremental requests.
fn assert_paced(server: &SimServer) {
    let arrivals: Vec<_> =
        server.requests().into_iter().filter(|r| r.path.starts_with("/api/v2/incremental/")).map(|r| r.at).collect();
    for (i, start) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..].iter().take_while(|at| at.duration_since(*start) < WINDOW).count();
        assert!(in_window <= LIMIT as usize, "{in_window} incremental requests within {WINDOW:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_sync_matches_the_truth_under_faults() -> TestResult {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        tickets: 60,
        incremental_limit: LIMIT,
        incremental_window: WINDOW,
        // Requesters are not sideloaded: the connector must look them up itself when
        // the run's users export does not carry them (every incremental run).
        sideload_users: false,
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config, clock.clone());
    let server = SimServer::start(sim.router(), heavy_faults()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir, "chorus.db").await?;
    let engine = support::engine(&store);
    let connector = connector(&server.url(), &store).await?;

    // Phase 1: full sync.
    sync(&engine, connector.as_ref()).await?;
    assert_matches(&snapshot(store.as_ref()).await?, &sim.truth());
    assert!(server.faults().injected() > 0, "the fault profile fired");

    // Phase 2: the source changes, one ticket exactly at the cursor boundary.
    let boundary = sim.export_boundary().ok_or("the export has tickets")?;
    let truth = sim.truth();
    let mut live = truth.tickets.values().filter(|t| t.organization_id.is_some());
    let (edited, deleted, moved, commented) = match (live.next(), live.next(), live.next(), live.next()) {
        (Some(a), Some(b), Some(c), Some(d)) => (a.id, b.id, c.id, d.id),
        _ => return Err("the sim needs four live tickets with organizations".into()),
    };
    let other_org = sim.organizations().last().map(|o| o.id).ok_or("organizations")?;
    assert!(sim.edit_ticket(edited, |t| {
        t.subject = "Export to CSV times out (edited)".into();
        t.satisfaction = Some((9_001, "bad".into()));
    }));
    assert!(sim.delete_ticket(deleted));
    assert!(sim.move_ticket(moved, Some(other_org)));
    assert!(sim.add_comment(commented, "<p>Any update? <a href=\"https://acme.example/x\">details</a></p>", true));
    assert!(sim.edit_organization(other_org, |o| o.name = "Tyrell Systems (renamed)".into()));
    let added = sim.add_ticket_at(boundary, "Added at the boundary", "<p>new</p>", Some(other_org));

    // The edits are withheld for a minute; the boundary ticket is already exported.
    sync(&engine, connector.as_ref()).await?;
    let early = snapshot(store.as_ref()).await?;
    assert!(early.items.get(&added.to_string()).is_some_and(|i| i.deleted_at.is_none()), "boundary ticket synced");
    let stale = early.items.get(&edited.to_string()).map(|i| i.title.clone());
    assert_ne!(stale.as_deref(), Some("Export to CSV times out (edited)"), "the last minute is withheld");

    clock.advance(Duration::from_secs(61));
    sync(&engine, connector.as_ref()).await?;
    assert_matches(&snapshot(store.as_ref()).await?, &sim.truth());

    let served = server.faults().cut_bodies_served();
    assert_eq!(served, [1; 7], "every planned cut was served (a rule that never fires proves nothing)");
    assert_eq!(server.retry_after_violations(), 0, "no request inside a Retry-After window");
    assert_eq!(sim.incremental_rejections(), 0, "the incremental limit was never hit");
    assert_eq!(sim.too_recent_rejections(), 0, "no start_time under a minute old was sent");
    assert_paced(&server);
    Ok(())
}
