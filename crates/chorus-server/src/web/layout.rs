//! The page shell (head, navigation, sign-out form) and the small pieces every page
//! draws with: money, dates, bars as inline SVG, query strings. Everything here
//! renders through maud, so every value is escaped.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use chorus_core::{Currency, Money};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::session::{WebCaller, CSRF_FIELD};

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    None,
    Search,
    Requests,
    Triage,
    Connectors,
}

const ENTRIES: [(Nav, &str, &str); 4] = [
    (Nav::Search, "/", "Search"),
    (Nav::Requests, "/requests", "Requests"),
    (Nav::Triage, "/triage", "Triage"),
    (Nav::Connectors, "/connectors", "Connectors"),
];

/// A whole page: `no-store`, since pages show what the session may see.
pub(crate) fn page(title: &str, who: Option<&WebCaller>, active: Nav, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Chorus" }
                link rel="stylesheet" href="/assets/chorus.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/" { "Chorus" }
                    @if let Some(who) = who {
                        nav {
                            @for (nav, href, label) in ENTRIES {
                                a class=@if nav == active { "active" } href=(href) { (label) }
                            }
                        }
                        form.signout method="post" action="/logout" {
                            (csrf_field(who))
                            span.role { (who.caller.role.as_str()) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], markup.into_string())
        .into_response()
}

/// The hidden CSRF field every state-changing form carries.
pub(crate) fn csrf_field(who: &WebCaller) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(who.csrf); }
}

/// `1,250,000 USD` from minor units (whole major units: the UI shows magnitudes).
pub(crate) fn money(minor: i64, currency: &str) -> String {
    match Money::parse(minor, currency) {
        Ok(money) => whole(money),
        Err(_) => format!("{minor} {currency} (minor units)"),
    }
}

/// Money of the reporting currency, from a score or total in its minor units.
pub(crate) fn reporting(minor: f64, currency: Currency) -> String {
    whole(Money::new(minor.round() as i64, currency))
}

fn whole(money: Money) -> String {
    let scale = 10i64.checked_pow(money.currency.exponent().unwrap_or(0)).unwrap_or(1);
    let major = money.minor / scale;
    let digits = major.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if major < 0 { "-" } else { "" };
    format!("{sign}{grouped} {}", money.currency)
}

pub(crate) fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A small horizontal bar, `fraction` of its width filled (clamped to `0..=1`).
pub(crate) fn bar(fraction: f64, label: &str) -> Markup {
    let width = if fraction.is_finite() { (fraction.clamp(0.0, 1.0) * 100.0).round() } else { 0.0 };
    html! {
        svg.bar viewBox="0 0 100 8" preserveAspectRatio="none" width="100" height="8" role="img" aria-label=(label) {
            rect.track x="0" y="0" width="100" height="8" rx="2" {}
            rect.fill x="0" y="0" width=(width) height="8" rx="2" {}
        }
    }
}

/// A query string from pairs, empty values left out.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `1 item`, `2 items`.
pub(crate) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most `n` characters of `text`, with an ellipsis when cut.
pub(crate) fn excerpt(text: &str, n: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(n).collect();
    if chars.next().is_some() {
        format!("{}…", head.trim_end())
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_whole_major_units_grouped() {
        assert_eq!(money(125_000_000, "USD"), "1,250,000 USD");
        assert_eq!(money(99, "USD"), "0 USD");
        assert_eq!(money(-4_800_000, "EUR"), "-48,000 EUR");
        assert_eq!(money(5, "XXX-not"), "5 XXX-not (minor units)");
    }

    #[test]
    fn bars_clamp_and_survive_nan() {
        assert!(bar(2.0, "x").into_string().contains(r#"width="100" height="8" rx="2"></rect></svg>"#));
        assert!(bar(f64::NAN, "x").into_string().contains(r#"class="fill" x="0" y="0" width="0""#));
    }

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("héllo wörld", 5), "héllo…");
        assert_eq!(excerpt("short", 10), "short");
    }
}
