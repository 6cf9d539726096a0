//! Identifiers one source writes into another's records, read the way the owner means them.
//!
//! A Zendesk organization whose `external_id` holds a Salesforce Account Id *is* that
//! account. Salesforce writes an id in two forms: 15 characters, case-sensitive, and 18
//! characters, the 15 plus a 3-character suffix that spells out which of the first 15 are
//! upper case, so that a case-insensitive copy (a spreadsheet, a lowercasing form) still
//! names one record. Invariant: every form of one record gives the same key, the 15-char
//! case-sensitive id; anything that is not a Salesforce id gives `None`.

/// The alphabet of the 18-char suffix: each character encodes five case bits.
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 15-character, case-sensitive key of a Salesforce id in either form:
/// `001Dn00000ABcdE` and `001Dn00000ABcdEIAU` (or it lowercased) give `001Dn00000ABcdE`.
pub fn salesforce_id_key(raw: &str) -> Option<String> {
    let id = raw.trim();
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(id.to_owned()),
        18 => {
            let (base, suffix) = id.split_at(15);
            let mut key = String::with_capacity(15);
            for (chunk, code) in base.as_bytes().chunks(5).zip(suffix.bytes()) {
                let bits = SUFFIX.iter().position(|c| *c == code.to_ascii_uppercase())?;
                for (n, byte) in chunk.iter().enumerate() {
                    let upper = bits & (1 << n) != 0;
                    match (upper, byte.is_ascii_alphabetic()) {
                        (true, false) => return None,
                        (true, true) => key.push(char::from(byte.to_ascii_uppercase())),
                        (false, _) => key.push(char::from(byte.to_ascii_lowercase())),
                    }
                }
            }
            Some(key)
        }
        _ => None,
    }
}

/// The 18-character form of a Salesforce id (what the API returns), from either form.
pub fn salesforce_id18(raw: &str) -> Option<String> {
    let key = salesforce_id_key(raw)?;
    let mut id = key.clone();
    for chunk in key.as_bytes().chunks(5) {
        let bits =
            chunk.iter().enumerate().filter(|(_, b)| b.is_ascii_uppercase()).fold(0, |acc, (n, _)| acc | (1 << n));
        id.push(char::from(SUFFIX[bits]));
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_any_case_give_one_key() {
        let id18 = salesforce_id18("001Dn00000ABcdE").expect("valid");
        assert_eq!(id18.len(), 18);
        assert_eq!(salesforce_id_key(&id18).as_deref(), Some("001Dn00000ABcdE"));
        assert_eq!(salesforce_id_key(&id18.to_ascii_lowercase()).as_deref(), Some("001Dn00000ABcdE"));
        assert_eq!(salesforce_id_key(" 001Dn00000ABcdE ").as_deref(), Some("001Dn00000ABcdE"));
        assert_eq!(salesforce_id18(&id18.to_ascii_uppercase()), Some(id18));
    }

    #[test]
    fn known_id_has_its_published_suffix() {
        // Chunk `001A0` has an upper-case letter at position 3 (bit 3: `I`), `00000`
        // none (`A`), `YUEUs` at positions 0 to 3 (15: `P`).
        assert_eq!(salesforce_id18("001A000000YUEUs").as_deref(), Some("001A000000YUEUsIAP"));
    }

    #[test]
    fn other_text_is_no_salesforce_id() {
        assert_eq!(salesforce_id_key("SF-01000"), None);
        assert_eq!(salesforce_id_key("12345"), None);
        assert_eq!(salesforce_id_key(""), None);
        assert_eq!(salesforce_id_key("001Dn00000ABcd-"), None);
        // the suffix says position 0 is upper case, but it is a digit
        assert_eq!(salesforce_id_key("100000000000000BAA"), None);
    }
}
