//! The stored forms of a request's per-account demand (`request_demand.accounts`;
//! decision 0012), by the row's `format`:
//!
//! - 2 (`FORMAT`, what every refresh writes): `chorus_core::priority::PackedDemand`'s
//!   bytes, read back as they are and scored in place by the model.
//! - 1 (rows written before migration 0009): fixed 37-byte little-endian entries, still
//!   read (unpacked, then packed again); a row is rewritten in format 2 when its request
//!   next changes.

use chorus_core::money::{Currency, Money};
use chorus_core::priority::{AccountAsks, KindSet};

use super::{corrupt, time_from};
use crate::Result;

const TABLE: &str = "request_demand";

/// The format every write uses.
pub(crate) const FORMAT: i64 = 2;

/// Bytes of one format-1 entry.
const V1_ENTRY: usize = 37;

/// Format 1: entries of 37 bytes, little-endian: account id (8), kinds (1), flags (1:
/// bit 0 blocks the account's pipeline, bit 1 has an ARR at ask), items (4), people (4),
/// newest ask in unix microseconds (8), ARR at ask in minor units (8), its currency (3).
pub(crate) fn decode_v1(request_id: i64, bytes: &[u8], currencies: &mut CurrencyCache) -> Result<Vec<AccountAsks>> {
    let bad = || corrupt(TABLE, format!("request {request_id}: accounts entry unreadable"));
    if !bytes.len().is_multiple_of(V1_ENTRY) {
        return Err(bad());
    }
    let i64_at = |entry: &[u8], at: usize| -> i64 {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(&entry[at..at + 8]);
        i64::from_le_bytes(buf)
    };
    let u32_at = |entry: &[u8], at: usize| -> u32 {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(&entry[at..at + 4]);
        u32::from_le_bytes(buf)
    };
    let mut accounts = Vec::with_capacity(bytes.len() / V1_ENTRY);
    for entry in bytes.chunks_exact(V1_ENTRY) {
        let flags = entry[9];
        let arr_at_ask = if flags & 2 != 0 {
            Some(Money::new(i64_at(entry, 26), currencies.get(&entry[34..37]).ok_or_else(bad)?))
        } else {
            None
        };
        accounts.push(AccountAsks {
            account_id: i64_at(entry, 0),
            kinds: KindSet::from_bits(entry[8]),
            blocks_account_pipeline: flags & 1 != 0,
            items: u32_at(entry, 10),
            people: u32_at(entry, 14),
            newest_ask: time_from(TABLE, i64_at(entry, 18))?,
            arr_at_ask,
        });
    }
    Ok(accounts)
}

/// Currency codes seen while decoding, parsed once each.
#[derive(Default)]
pub(crate) struct CurrencyCache(Vec<([u8; 3], Currency)>);

impl CurrencyCache {
    pub(crate) fn get(&mut self, code: &[u8]) -> Option<Currency> {
        if let Some((_, currency)) = self.0.iter().find(|(known, _)| known.as_slice() == code) {
            return Some(*currency);
        }
        let currency: Currency = std::str::from_utf8(code).ok()?.parse().ok()?;
        let mut key = [0u8; 3];
        key.copy_from_slice(code);
        self.0.push((key, currency));
        Some(currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_core::Kind;
    use chrono::{DateTime, TimeZone, Utc};

    /// Format 1 as it was written.
    fn encode_v1(accounts: &[AccountAsks]) -> Vec<u8> {
        let mut out = Vec::new();
        for asks in accounts {
            out.extend_from_slice(&asks.account_id.to_le_bytes());
            out.push(asks.kinds.bits());
            out.push(u8::from(asks.blocks_account_pipeline) | (u8::from(asks.arr_at_ask.is_some()) << 1));
            out.extend_from_slice(&asks.items.to_le_bytes());
            out.extend_from_slice(&asks.people.to_le_bytes());
            out.extend_from_slice(&asks.newest_ask.timestamp_micros().to_le_bytes());
            let (minor, code) = asks.arr_at_ask.map_or((0, "   "), |m| (m.minor, m.currency.code()));
            out.extend_from_slice(&minor.to_le_bytes());
            out.extend_from_slice(code.as_bytes());
        }
        out
    }

    #[test]
    fn rows_of_the_first_format_still_read() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().expect("time");
        let accounts = vec![
            AccountAsks {
                account_id: 7,
                kinds: [Kind::Bug, Kind::SalesBlocker].into_iter().collect(),
                items: 3,
                people: 2,
                newest_ask: at,
                arr_at_ask: Some(Money::new(-12_345, Currency::EUR)),
                blocks_account_pipeline: true,
            },
            AccountAsks {
                account_id: i64::MAX,
                kinds: KindSet::default(),
                items: u32::MAX,
                people: 0,
                newest_ask: DateTime::from_timestamp_micros(-1).expect("time"),
                arr_at_ask: None,
                blocks_account_pipeline: false,
            },
        ];
        let bytes = encode_v1(&accounts);
        let mut cache = CurrencyCache::default();
        assert_eq!(decode_v1(1, &bytes, &mut cache).expect("decode"), accounts);
        assert!(decode_v1(1, &bytes[1..], &mut cache).is_err(), "a torn entry is an error, not a guess");
    }
}
