//! JWT bearer assertions (RFC 7523) for the OAuth 2.0 JWT bearer grant.
//!
//! `JwtAssertion` holds the client's RSA private key and signs, for every token
//! request, a fresh RS256 JWT with `iss` = client id, `sub` = the user, `aud` = the
//! authorization server and `exp` three minutes ahead (Salesforce's limit). Signing is
//! `jsonwebtoken` on `ring`. Invariants: the key is parsed, and tried once, when the
//! assertion maker is built, so a bad key is a configuration error before any request;
//! no message, `Debug` or log ever shows the key or a signed assertion.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chorus_core::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::ConnectorError;

/// The `grant_type` of the JWT bearer grant.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a signed assertion is valid (Salesforce takes at most three minutes).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(180);

/// Signs JWT bearer assertions for one client and user.
#[derive(Clone)]
pub struct JwtAssertion {
    key: EncodingKey,
    issuer: String,
    subject: String,
    audience: String,
}

impl std::fmt::Debug for JwtAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAssertion")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

impl JwtAssertion {
    /// Parses the PEM private key (PKCS#8 or PKCS#1 RSA) found at config key `field`
    /// and checks that it signs.
    pub fn new(field: &str, pem: &[u8], issuer: &str, subject: &str, audience: &str) -> Result<Self, ConnectorError> {
        let key = parse_key(field, pem)?;
        let assertion =
            Self { key, issuer: issuer.to_owned(), subject: subject.to_owned(), audience: audience.to_owned() };
        assertion.sign().map_err(|_| bad_key(field))?;
        Ok(assertion)
    }

    /// Checks that `pem` is an RSA private key that signs, without keeping it.
    pub(crate) fn check_key(field: &str, pem: &[u8]) -> Result<(), ConnectorError> {
        Self::new(field, pem, "check", "check", "check").map(|_| ())
    }

    /// A new assertion, valid for `ASSERTION_LIFETIME` from now.
    pub fn sign(&self) -> Result<Secret, ConnectorError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = Claims {
            iss: &self.issuer,
            sub: &self.subject,
            aud: &self.audience,
            exp: (now + ASSERTION_LIFETIME).as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|_| ConnectorError::Config("auth: the private key does not sign an RS256 assertion".into()))
    }

    /// The `aud` claim the assertions carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The `iss` claim (the client id).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `sub` claim (the user).
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

fn parse_key(field: &str, pem: &[u8]) -> Result<EncodingKey, ConnectorError> {
    // jsonwebtoken's errors say little and could, in a later version, quote the input:
    // the message names the key, never its content.
    EncodingKey::from_rsa_pem(pem).map_err(|_| bad_key(field))
}

fn bad_key(field: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "{field}: not an RSA private key in PEM form (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`)"
    ))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Decoded {
        iss: String,
        sub: String,
        aud: String,
        exp: u64,
    }

    #[test]
    fn an_assertion_carries_the_claims_and_verifies_with_the_public_key() {
        let pem = chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM.as_bytes();
        let maker =
            JwtAssertion::new("auth.private_key", pem, "consumer-key", "ops@acme.com", "https://login.salesforce.com")
                .expect("test key");
        let signed = maker.sign().expect("signs");
        let public = DecodingKey::from_rsa_pem(chorus_sim::token::JWT_TEST_PUBLIC_KEY_PEM.as_bytes()).expect("public");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://login.salesforce.com"]);
        let decoded = jsonwebtoken::decode::<Decoded>(signed.expose(), &public, &validation).expect("verifies");
        let claims = decoded.claims;
        assert_eq!((claims.iss.as_str(), claims.sub.as_str()), ("consumer-key", "ops@acme.com"));
        assert_eq!(claims.aud, "https://login.salesforce.com");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        assert!((now + 170..=now + 181).contains(&claims.exp), "exp {} now {now}", claims.exp);
        assert!(!format!("{maker:?}").contains("PRIVATE"), "{maker:?}");
    }

    #[test]
    fn a_pkcs1_key_works_too() {
        // The same key in the traditional `BEGIN RSA PRIVATE KEY` form that
        // `openssl genrsa` wrote before OpenSSL 3.
        let pem = chorus_sim::token::JWT_TEST_PRIVATE_KEY_PKCS1_PEM.as_bytes();
        assert!(JwtAssertion::new("auth.private_key", pem, "c", "u", "a").is_ok());
    }

    #[test]
    fn a_bad_key_is_a_config_error_naming_the_field_and_not_the_content() {
        for pem in [
            "hunter2".to_owned(),
            "-----BEGIN PRIVATE KEY-----\naHVudGVyMg==\n-----END PRIVATE KEY-----\n".to_owned(),
            chorus_sim::token::JWT_TEST_PUBLIC_KEY_PEM.to_owned(),
        ] {
            let error = JwtAssertion::new("auth.private_key_file", pem.as_bytes(), "c", "u", "a").expect_err("bad key");
            let message = error.to_string();
            assert!(matches!(error, ConnectorError::Config(_)), "{message}");
            assert!(message.contains("auth.private_key_file"), "{message}");
            assert!(!message.contains("hunter2") && !message.contains("aHVudGVyMg"), "{message}");
        }
    }
}
