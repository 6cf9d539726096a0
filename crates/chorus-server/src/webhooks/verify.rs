//! Webhook signatures, verified over the raw body before anything parses it.
//!
//! - Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//!   `X-Slack-Request-Timestamp: {ts}` (Unix seconds);
//! - Zendesk: `X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256 of "{ts}{body}">` with
//!   `X-Zendesk-Webhook-Signature-Timestamp: {ts}` (RFC 3339);
//! - Jira: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of body>` (its payload carries
//!   the timestamp, checked after the signature).
//!
//! Comparisons are constant-time (`Mac::verify_slice`). A timestamp more than
//! `WINDOW` from now is refused, and a signature seen within the window is a replay;
//! the replay memory holds at most `REPLAY_CAPACITY` signatures.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// Most signatures remembered for replay detection.
pub const REPLAY_CAPACITY: usize = 50_000;

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("missing or malformed `{0}` header")]
    Header(&'static str),
    #[error("the signature does not match the body")]
    Signature,
    #[error("the request timestamp is outside the 5-minute window")]
    Stale,
    #[error("this request was already delivered")]
    Replayed,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("hmac accepts any key"))
}

fn within_window(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refused> {
    let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::MAX);
    if (now - at).abs() > window {
        return Err(Refused::Stale);
    }
    Ok(())
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() & 1 == 1 || text.len() > 256 {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).unwrap_or(0)))
        .collect()
}

/// Verifies a Slack request; returns the signature (the replay key).
pub fn slack(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<String, Refused> {
    let timestamp = timestamp.ok_or(Refused::Header("X-Slack-Request-Timestamp"))?;
    let seconds: i64 = timestamp.trim().parse().map_err(|_| Refused::Header("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(Refused::Header("X-Slack-Signature"))?;
    let expected = signature.strip_prefix("v0=").and_then(hex_decode).ok_or(Refused::Header("X-Slack-Signature"))?;
    let mut mac = mac(secret);
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Refused::Signature)?;
    let at = DateTime::from_timestamp(seconds, 0).ok_or(Refused::Stale)?;
    within_window(at, now)?;
    Ok(signature.to_owned())
}

/// Verifies a Zendesk request; returns the signature (the replay key).
pub fn zendesk(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<String, Refused> {
    let timestamp = timestamp.ok_or(Refused::Header("X-Zendesk-Webhook-Signature-Timestamp"))?;
    let signature = signature.ok_or(Refused::Header("X-Zendesk-Webhook-Signature"))?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Refused::Header("X-Zendesk-Webhook-Signature"))?;
    let mut mac = mac(secret);
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Refused::Signature)?;
    let at = DateTime::parse_from_rfc3339(timestamp.trim())
        .map_err(|_| Refused::Header("X-Zendesk-Webhook-Signature-Timestamp"))?
        .with_timezone(&Utc);
    within_window(at, now)?;
    Ok(signature.trim().to_owned())
}

/// Verifies a Jira request's signature; returns it (the replay key). The payload's
/// own `timestamp` is checked by [`jira_timestamp`] once the body is trusted.
pub fn jira(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<String, Refused> {
    let signature = signature.ok_or(Refused::Header("X-Hub-Signature"))?;
    let expected = signature.strip_prefix("sha256=").and_then(hex_decode).ok_or(Refused::Header("X-Hub-Signature"))?;
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Refused::Signature)?;
    Ok(signature.to_owned())
}

/// Checks a Jira payload's `timestamp` (Unix milliseconds) against the window.
pub fn jira_timestamp(millis: Option<i64>, now: DateTime<Utc>) -> Result<(), Refused> {
    let at = millis.and_then(DateTime::from_timestamp_millis).ok_or(Refused::Stale)?;
    within_window(at, now)
}

/// Signatures seen within the window, oldest first; bounded.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

/// The signatures (for look-up) and when each was seen (oldest first, for expiry).
#[derive(Default)]
struct Seen {
    keys: HashSet<String>,
    order: VecDeque<(DateTime<Utc>, String)>,
}

impl ReplayGuard {
    /// Records `key`; `Err(Replayed)` when it was seen within the window.
    pub fn admit(&self, key: &str, now: DateTime<Utc>) -> Result<(), Refused> {
        let mut guard = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Seen { keys: set, order } = &mut *guard;
        let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::MAX);
        while let Some((at, _)) = order.front() {
            if now - *at <= window && order.len() < REPLAY_CAPACITY {
                break;
            }
            if let Some((_, old)) = order.pop_front() {
                set.remove(&old);
            }
        }
        if !set.insert(key.to_owned()) {
            return Err(Refused::Replayed);
        }
        order.push_back((now, key.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn sign_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = mac(secret);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Option<serde_json::Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/slack/signing_secret_test_vector.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} not present", path.display());
            return None;
        };
        serde_json::from_str(&text).ok()
    }

    #[test]
    fn slack_test_vector_verifies_and_its_tampered_twin_does_not() {
        let Some(vector) = fixture() else { return };
        let secret = vector["signing_secret"].as_str().expect("secret");
        let ts = vector["headers"]["X-Slack-Request-Timestamp"].as_str().expect("ts");
        let signature = vector["headers"]["X-Slack-Signature"].as_str().expect("signature");
        let body = vector["body"].as_str().expect("body").as_bytes();
        let at = DateTime::from_timestamp(ts.parse().expect("seconds"), 0).expect("time");
        assert_eq!(slack(secret, Some(ts), Some(signature), body, at), Ok(signature.to_owned()));
        assert_eq!(format!("v0={}", sign_hex(secret, &[b"v0:", ts.as_bytes(), b":", body])), signature);
        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert_eq!(slack(secret, Some(ts), Some(signature), &tampered, at), Err(Refused::Signature));
        assert_eq!(slack("wrong", Some(ts), Some(signature), body, at), Err(Refused::Signature));
        let later = at + chrono::Duration::seconds(301);
        assert_eq!(slack(secret, Some(ts), Some(signature), body, later), Err(Refused::Stale));
        assert_eq!(slack(secret, None, Some(signature), body, at), Err(Refused::Header("X-Slack-Request-Timestamp")));
        assert_eq!(slack(secret, Some(ts), Some("v0=zz"), body, at), Err(Refused::Header("X-Slack-Signature")));
    }

    #[test]
    fn zendesk_signs_timestamp_then_body_in_base64() {
        let now = Utc::now();
        let ts = now.to_rfc3339();
        let body = br#"{"ticket_id":"1"}"#;
        let hex = sign_hex("zsecret", &[ts.as_bytes(), body]);
        let raw: Vec<u8> = hex_decode(&hex).expect("hex");
        let signature = base64::engine::general_purpose::STANDARD.encode(raw);
        assert!(zendesk("zsecret", Some(&ts), Some(&signature), body, now).is_ok());
        assert_eq!(zendesk("other", Some(&ts), Some(&signature), body, now), Err(Refused::Signature));
        assert_eq!(zendesk("zsecret", Some(&ts), Some(&signature), b"{}", now), Err(Refused::Signature));
        let stale = now + chrono::Duration::minutes(6);
        assert_eq!(zendesk("zsecret", Some(&ts), Some(&signature), body, stale), Err(Refused::Stale));
    }

    #[test]
    fn jira_signs_the_body_in_hex() {
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let signature = format!("sha256={}", sign_hex("jsecret", &[body]));
        assert!(jira("jsecret", Some(&signature), body).is_ok());
        assert_eq!(jira("jsecret", Some(&signature), b"{}"), Err(Refused::Signature));
        assert_eq!(jira("nope", Some(&signature), body), Err(Refused::Signature));
        assert_eq!(jira("jsecret", Some("sha1=00"), body), Err(Refused::Header("X-Hub-Signature")));
        let now = Utc::now();
        assert!(jira_timestamp(Some(now.timestamp_millis()), now).is_ok());
        assert_eq!(jira_timestamp(Some(now.timestamp_millis() - 600_000), now), Err(Refused::Stale));
        assert_eq!(jira_timestamp(None, now), Err(Refused::Stale));
    }

    #[test]
    fn replays_are_refused_within_the_window_and_memory_is_bounded() {
        let guard = ReplayGuard::default();
        let now = Utc::now();
        assert!(guard.admit("a", now).is_ok());
        assert_eq!(guard.admit("a", now), Err(Refused::Replayed));
        assert!(guard.admit("a", now + chrono::Duration::minutes(6)).is_ok(), "forgotten after the window");
        for n in 0..REPLAY_CAPACITY + 10 {
            guard.admit(&n.to_string(), now).expect("fresh");
        }
        let held = guard.seen.lock().expect("lock").order.len();
        assert!(held <= REPLAY_CAPACITY, "{held}");
    }
}
