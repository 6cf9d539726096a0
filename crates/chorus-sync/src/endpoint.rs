//! Which endpoints a connector may call.
//!
//! Credentials must not travel in clear text or to an unexpected local service, so a
//! plain-HTTP URL or a loopback/private host is refused unless the connector's config
//! says `allow_insecure_endpoints = true` (simulators, local proxies, sandboxes).

use std::net::IpAddr;

use url::Url;

use crate::ConnectorError;

/// Parses an endpoint URL from config and applies the insecure-endpoint rule.
pub fn parse_endpoint(field: &str, raw: &str, allow_insecure: bool) -> Result<Url, ConnectorError> {
    // The text is not echoed: a URL that does not parse may still hold a password.
    let url = Url::parse(raw).map_err(|e| ConnectorError::Config(format!("{field}: not a URL: {e}")))?;
    check_endpoint(field, &url, allow_insecure)?;
    Ok(url)
}

/// Refuses plain-HTTP and loopback/private endpoints unless `allow_insecure`.
pub fn check_endpoint(field: &str, url: &Url, allow_insecure: bool) -> Result<(), ConnectorError> {
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => {
            return Err(ConnectorError::Config(format!(
                "{field}: plain-HTTP endpoint `{}` refused; set allow_insecure_endpoints = true to allow it",
                shown(url)
            )))
        }
        other => return Err(ConnectorError::Config(format!("{field}: unsupported scheme `{other}`"))),
    }
    if url.username() != "" || url.password().is_some() {
        return Err(ConnectorError::Config(format!(
            "{field}: credentials in the URL are not allowed; use the auth settings"
        )));
    }
    let Some(host) = url.host_str() else {
        return Err(ConnectorError::Config(format!("{field}: `{}` has no host", shown(url))));
    };
    if is_local(host) && !allow_insecure {
        return Err(ConnectorError::Config(format!(
            "{field}: local endpoint `{host}` refused; set allow_insecure_endpoints = true to allow it"
        )));
    }
    Ok(())
}

/// A URL fit for a message: no user, password or query (any of them may hold a secret).
fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_public_endpoints_pass() {
        assert!(parse_endpoint("base_url", "https://acme.atlassian.net", false).is_ok());
    }

    #[test]
    fn plain_http_and_loopback_need_the_flag() {
        for raw in [
            "http://acme.example.com",
            "https://127.0.0.1:8443",
            "https://localhost",
            "https://[::1]:9000",
            "https://10.0.0.5",
        ] {
            let err = parse_endpoint("base_url", raw, false).expect_err(raw).to_string();
            assert!(err.contains("allow_insecure_endpoints"), "{raw}: {err}");
            assert!(parse_endpoint("base_url", raw, true).is_ok(), "{raw}");
        }
    }

    #[test]
    fn urls_with_credentials_are_refused_without_printing_them() {
        assert!(parse_endpoint("base_url", "https://user:pw@acme.example.com", true).is_err());
        for raw in [
            "http://agent:hunter2@acme.example.com/?token=hunter2",
            "https://agent:hunter2@acme.example.com/",
            "https://agent:hunter2@[::1",
            "ftp://agent:hunter2@acme.example.com/",
        ] {
            for allow in [false, true] {
                let message = parse_endpoint("base_url", raw, allow).expect_err(raw).to_string();
                assert!(!message.contains("hunter2"), "{raw}: {message}");
            }
        }
    }
}
