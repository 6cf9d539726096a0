//! API token text: minting, hashing and the public prefix.
//!
//! A token is `chorus_` followed by 43 characters of URL-safe base64 (32 random bytes
//! from the operating system). Only its SHA-256 (hex) is stored; the first 12
//! characters are kept as a prefix so people can tell tokens apart in listings.
//! Invariant: the token text exists only in the answer to the one request that minted
//! it; nothing here logs it.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every token starts with (so secret scanners can recognise a leaked one).
pub const TOKEN_PREFIX: &str = "chorus_";

/// How many leading characters of a token are kept in clear.
const SHOWN: usize = 12;

/// A freshly minted token: the text (shown once) and what the store keeps.
pub struct Minted {
    pub token: chorus_core::Secret,
    pub prefix: String,
    pub hash: String,
}

/// Mints a new random token.
pub fn mint() -> Minted {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let prefix = token.chars().take(SHOWN).collect();
    let hash = hash(&token);
    Minted { token: chorus_core::Secret::new(token), prefix, hash }
}

/// Lowercase hex SHA-256 of a token, the form the store looks tokens up by.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// Whether `text` has the shape of a token (checked before any store look-up).
pub fn looks_like_token(text: &str) -> bool {
    text.len() == TOKEN_PREFIX.len() + 43
        && text.starts_with(TOKEN_PREFIX)
        && text[TOKEN_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_unique_prefixed_and_hash_to_what_is_stored() {
        let first = mint();
        let second = mint();
        assert_ne!(first.token.expose(), second.token.expose());
        assert!(looks_like_token(first.token.expose()), "{}", first.prefix);
        assert!(first.token.expose().starts_with(&first.prefix) && first.prefix.starts_with(TOKEN_PREFIX));
        assert_eq!(first.hash, hash(first.token.expose()));
        assert_eq!(first.hash.len(), 64);
        assert!(!format!("{:?}", first.token).contains(first.token.expose()), "Debug never prints a token");
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn malformed_tokens_are_recognised_without_a_look_up() {
        assert!(!looks_like_token("chorus_short"));
        assert!(!looks_like_token(&format!("other_{}", "a".repeat(43))));
        assert!(!looks_like_token(&format!("{TOKEN_PREFIX}{}", "!".repeat(43))));
    }
}
