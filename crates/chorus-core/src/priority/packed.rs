//! The compact form of a request's demand, as the store keeps it and ranking reads it:
//! every (request, account) aggregate packed into a few bytes, scored where it lies.
//!
//! Ranking reads every entry of every request (about a million at 10 000 requests over
//! 1M items), so what it costs is the bytes read and the work per entry. A
//! `PackedDemand` is the stored bytes themselves: `PriorityModel::rank` walks them on
//! every core, without building an `AccountAsks` (or a `DateTime`) per entry, and
//! `unpack` gives the plain `RequestDemand` for a breakdown or a test.
//!
//! The format (the store's `request_demand.format` 2), every integer an unsigned LEB128
//! varint, signed ones zigzag-encoded first: the number of entries; the number of
//! currencies, then each as 3 ASCII bytes; then per entry, in account-id order (as
//! `pack` sorts them), the account id minus the previous entry's (from 0, wrapping), a
//! byte of kinds (bits 0–3), blocks-the-account's-pipeline (bit 4) and has-an-ARR-at-ask
//! (bit 5), items, people, the newest ask's whole unix seconds minus the previous
//! entry's (from 0, wrapping), its microseconds within the second, and with an ARR at
//! ask its minor units and the index of its currency in the table. About 15 bytes an
//! entry on typical data. Bytes that are torn, overlong, trailing or out of range read
//! as an error naming the request, never as a guess.

use chrono::{DateTime, Utc};

use super::demand::{AccountAsks, KindSet, RequestDemand};
use crate::money::{Currency, Money};

const KINDS: u8 = 0x0f;
const BLOCKS: u8 = 0x10;
const HAS_ARR: u8 = 0x20;
const MICROS: i64 = 1_000_000;
/// The fewest bytes an entry takes (id, flags, items, people, seconds, microseconds).
const MIN_ENTRY: usize = 6;
/// Times read must lie within ±247 000 years of 1970 (in microseconds), well inside
/// what `DateTime` holds, so every time read converts.
const TIME_LIMIT: i64 = 7_800_000_000_000_000_000;

/// Packed bytes that do not read as a demand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request {request_id}: packed demand unreadable at byte {at}")]
pub struct PackError {
    pub request_id: i64,
    pub at: usize,
}

/// A request's demand in its packed form (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedDemand {
    pub request_id: i64,
    accounts: Vec<u8>,
    /// Opportunities named by the request's sales blockers (repeats count once).
    pub opportunities: Vec<i64>,
    pub unattributed_items: u32,
    pub unattributed_people: u32,
}

/// One packed entry as ranking reads it: `AccountAsks` with its time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub account_id: i64,
    pub kinds: KindSet,
    pub items: u32,
    pub people: u32,
    /// The newest ask, in unix microseconds.
    pub newest_ask_micros: i64,
    pub arr_at_ask: Option<Money>,
    pub blocks_account_pipeline: bool,
}

impl Entry {
    pub(crate) fn of(asks: &AccountAsks) -> Self {
        Self {
            account_id: asks.account_id,
            kinds: asks.kinds,
            items: asks.items,
            people: asks.people,
            newest_ask_micros: asks.newest_ask.timestamp_micros(),
            arr_at_ask: asks.arr_at_ask,
            blocks_account_pipeline: asks.blocks_account_pipeline,
        }
    }
}

impl PackedDemand {
    /// `demand` packed, its accounts in id order and its opportunities sorted and
    /// without repeats: the one stored form of a demand.
    pub fn pack(demand: &RequestDemand) -> Self {
        let mut accounts: Vec<&AccountAsks> = demand.accounts.iter().collect();
        accounts.sort_by_key(|asks| asks.account_id);
        let mut opportunities = demand.opportunities.clone();
        opportunities.sort_unstable();
        opportunities.dedup();
        Self {
            request_id: demand.request_id,
            accounts: encode(&accounts),
            opportunities,
            unattributed_items: demand.unattributed_items,
            unattributed_people: demand.unattributed_people,
        }
    }

    /// Stored parts, as written by `pack` and read back; the bytes are checked as they
    /// are read (`entries`, `unpack`).
    pub fn from_parts(
        request_id: i64,
        accounts: Vec<u8>,
        opportunities: Vec<i64>,
        unattributed_items: u32,
        unattributed_people: u32,
    ) -> Self {
        Self { request_id, accounts, opportunities, unattributed_items, unattributed_people }
    }

    /// The packed accounts, to store.
    pub fn account_bytes(&self) -> &[u8] {
        &self.accounts
    }

    /// The entries, in account-id order; an error ends them.
    pub fn entries(&self) -> Entries<'_> {
        Entries::new(self.request_id, &self.accounts)
    }

    /// The plain form.
    pub fn unpack(&self) -> Result<RequestDemand, PackError> {
        let accounts = self
            .entries()
            .map(|entry| {
                let entry = entry?;
                let newest_ask = DateTime::<Utc>::from_timestamp_micros(entry.newest_ask_micros)
                    .ok_or(PackError { request_id: self.request_id, at: 0 })?;
                Ok(AccountAsks {
                    account_id: entry.account_id,
                    kinds: entry.kinds,
                    items: entry.items,
                    people: entry.people,
                    newest_ask,
                    arr_at_ask: entry.arr_at_ask,
                    blocks_account_pipeline: entry.blocks_account_pipeline,
                })
            })
            .collect::<Result<Vec<_>, PackError>>()?;
        Ok(RequestDemand {
            request_id: self.request_id,
            accounts,
            unattributed_items: self.unattributed_items,
            unattributed_people: self.unattributed_people,
            opportunities: self.opportunities.clone(),
        })
    }

    /// The number of entries the bytes announce (0 when unreadable).
    pub fn len(&self) -> usize {
        Entries::new(self.request_id, &self.accounts).remaining
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn encode(accounts: &[&AccountAsks]) -> Vec<u8> {
    let mut currencies: Vec<Currency> = Vec::new();
    for money in accounts.iter().filter_map(|asks| asks.arr_at_ask) {
        if !currencies.contains(&money.currency) {
            currencies.push(money.currency);
        }
    }
    let mut out = Vec::with_capacity(4 + currencies.len() * 3 + accounts.len() * 16);
    put(&mut out, accounts.len() as u64);
    put(&mut out, currencies.len() as u64);
    for currency in &currencies {
        let mut code = [b' '; 3];
        code.iter_mut().zip(currency.code().bytes()).for_each(|(slot, byte)| *slot = byte);
        out.extend_from_slice(&code);
    }
    let (mut previous_id, mut previous_seconds) = (0_i64, 0_i64);
    for asks in accounts {
        put(&mut out, zigzag(asks.account_id.wrapping_sub(previous_id)));
        previous_id = asks.account_id;
        let flags = (asks.kinds.bits() & KINDS)
            | if asks.blocks_account_pipeline { BLOCKS } else { 0 }
            | if asks.arr_at_ask.is_some() { HAS_ARR } else { 0 };
        out.push(flags);
        put(&mut out, u64::from(asks.items));
        put(&mut out, u64::from(asks.people));
        let micros = asks.newest_ask.timestamp_micros();
        let seconds = micros.div_euclid(MICROS);
        put(&mut out, zigzag(seconds.wrapping_sub(previous_seconds)));
        previous_seconds = seconds;
        put(&mut out, micros.rem_euclid(MICROS) as u64);
        if let Some(money) = asks.arr_at_ask {
            put(&mut out, zigzag(money.minor));
            let index = currencies.iter().position(|c| *c == money.currency).unwrap_or(0);
            put(&mut out, index as u64);
        }
    }
    out
}

/// The entries of a packed demand, read one by one.
pub struct Entries<'a> {
    bytes: &'a [u8],
    at: usize,
    request_id: i64,
    /// Entries still to read.
    remaining: usize,
    currencies: Vec<Currency>,
    account_id: i64,
    seconds: i64,
    /// An unreadable header, reported by the first `next`.
    failure: Option<PackError>,
    done: bool,
}

impl<'a> Entries<'a> {
    fn new(request_id: i64, bytes: &'a [u8]) -> Self {
        let mut entries = Self {
            bytes,
            at: 0,
            request_id,
            remaining: 0,
            currencies: Vec::new(),
            account_id: 0,
            seconds: 0,
            failure: None,
            done: false,
        };
        if let Err(error) = entries.header() {
            entries.failure = Some(error);
        }
        entries
    }

    fn header(&mut self) -> Result<(), PackError> {
        let count = self.count()? as usize;
        let currencies = self.count()? as usize;
        for _ in 0..currencies {
            let code = self.bytes.get(self.at..self.at + 3).ok_or_else(|| self.bad())?;
            let currency =
                std::str::from_utf8(code).ok().and_then(|code| code.parse().ok()).ok_or_else(|| self.bad())?;
            self.at += 3;
            self.currencies.push(currency);
        }
        // A count the bytes cannot hold is corrupt (and bounds any allocation by it).
        if count > (self.bytes.len() - self.at) / MIN_ENTRY {
            return Err(self.bad());
        }
        self.remaining = count;
        Ok(())
    }

    fn bad(&self) -> PackError {
        PackError { request_id: self.request_id, at: self.at }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, PackError> {
        let byte = *self.bytes.get(self.at).ok_or_else(|| self.bad())?;
        self.at += 1;
        Ok(byte)
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, PackError> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let mut value = u64::from(first & 0x7f);
        for shift in (7..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.bad());
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.bad())
    }

    fn count(&mut self) -> Result<u32, PackError> {
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| self.bad())
    }

    fn entry(&mut self) -> Result<Entry, PackError> {
        self.account_id = self.account_id.wrapping_add(unzigzag(self.varint()?));
        let flags = self.byte()?;
        if flags & !(KINDS | BLOCKS | HAS_ARR) != 0 {
            return Err(self.bad());
        }
        let items = self.count()?;
        let people = self.count()?;
        self.seconds = self.seconds.wrapping_add(unzigzag(self.varint()?));
        let within = self.varint()?;
        let newest_ask_micros = i64::try_from(within)
            .ok()
            .filter(|micros| *micros < MICROS)
            .and_then(|micros| self.seconds.checked_mul(MICROS)?.checked_add(micros))
            .filter(|micros| micros.abs() <= TIME_LIMIT)
            .ok_or_else(|| self.bad())?;
        let arr_at_ask = if flags & HAS_ARR != 0 {
            let minor = unzigzag(self.varint()?);
            let index = self.varint()?;
            let currency = usize::try_from(index)
                .ok()
                .and_then(|index| self.currencies.get(index).copied())
                .ok_or_else(|| self.bad())?;
            Some(Money::new(minor, currency))
        } else {
            None
        };
        Ok(Entry {
            account_id: self.account_id,
            kinds: KindSet::from_bits(flags & KINDS),
            items,
            people,
            newest_ask_micros,
            arr_at_ask,
            blocks_account_pipeline: flags & BLOCKS != 0,
        })
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, PackError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(error) = self.failure.take() {
            self.done = true;
            return Some(Err(error));
        }
        if self.remaining == 0 {
            self.done = true;
            // Bytes past the last entry are corrupt too.
            return (self.at != self.bytes.len()).then(|| Err(self.bad()));
        }
        self.remaining -= 1;
        let entry = self.entry();
        self.done = entry.is_err();
        Some(entry)
    }
}

fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;
    use chrono::TimeZone;

    fn asks(account_id: i64, newest_ask: DateTime<Utc>, arr_at_ask: Option<Money>) -> AccountAsks {
        AccountAsks {
            account_id,
            kinds: [Kind::Bug, Kind::SalesBlocker].into_iter().collect(),
            items: 3,
            people: 2,
            newest_ask,
            arr_at_ask,
            blocks_account_pipeline: true,
        }
    }

    fn demand(accounts: Vec<AccountAsks>) -> RequestDemand {
        RequestDemand {
            request_id: 1,
            accounts,
            unattributed_items: 4,
            unattributed_people: 1,
            opportunities: vec![9, 2, 9],
        }
    }

    fn samples() -> Vec<AccountAsks> {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().expect("time");
        let before_1970 = DateTime::from_timestamp_micros(-1_234_567).expect("time");
        let odd = DateTime::from_timestamp_micros(1_767_225_600_123_456).expect("time");
        vec![
            asks(-5, before_1970, Some(Money::new(i64::MIN, "GBP".parse().expect("GBP")))),
            asks(7, at, Some(Money::new(-12_345, Currency::EUR))),
            asks(8, odd, Some(Money::new(12_345_678, Currency::USD))),
            asks(9, at, Some(Money::new(1, Currency::EUR))),
            AccountAsks {
                account_id: i64::MAX,
                kinds: KindSet::default(),
                items: u32::MAX,
                people: 0,
                newest_ask: odd,
                arr_at_ask: None,
                blocks_account_pipeline: false,
            },
        ]
    }

    #[test]
    fn a_packed_demand_unpacks_to_its_canonical_form() {
        let mut shuffled = samples();
        shuffled.reverse();
        let packed = PackedDemand::pack(&demand(shuffled));
        let unpacked = packed.unpack().expect("unpack");
        assert_eq!(unpacked.accounts, samples(), "accounts in id order");
        assert_eq!(unpacked.opportunities, vec![2, 9], "sorted, without repeats");
        assert_eq!((unpacked.unattributed_items, unpacked.unattributed_people), (4, 1));
        assert_eq!(packed.len(), 5);
        let empty = PackedDemand::pack(&demand(Vec::new()));
        assert!(empty.is_empty() && empty.unpack().expect("empty").accounts.is_empty());
    }

    #[test]
    fn typical_entries_take_well_under_half_of_a_fixed_width_entry() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().expect("time");
        let accounts: Vec<AccountAsks> = (0..100)
            .map(|i| {
                let when = at - chrono::Duration::seconds(i * 86_400 * 3 + i * 17);
                asks(1_000 + i * 480, when, Some(Money::new(40_000_000 + i * 1_000, Currency::USD)))
            })
            .collect();
        let packed = PackedDemand::pack(&demand(accounts.clone()));
        assert!(packed.account_bytes().len() * 2 < accounts.len() * 37, "{} bytes", packed.account_bytes().len());
        assert_eq!(packed.unpack().expect("unpack").accounts, accounts);
    }

    #[test]
    fn every_cut_or_corrupted_byte_string_is_an_error_never_a_guess() {
        let packed = PackedDemand::pack(&demand(samples()));
        let bytes = packed.account_bytes().to_vec();
        let read = |bytes: &[u8]| PackedDemand::from_parts(1, bytes.to_vec(), Vec::new(), 0, 0).unpack();
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).is_err(), "trailing bytes");
        let mut flags = bytes.clone();
        flags[1 + 1 + 3 * 3 + 1] |= 0x40; // entry and currency counts, three currencies, first id
        assert!(read(&flags).is_err(), "an unknown flag");
        let mut currency = bytes.clone();
        currency[2] = b'?';
        assert!(read(&currency).is_err(), "an unknown currency");
        let overlong = [0u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(read(&overlong).is_err(), "a varint past 64 bits");
        let huge_count = [0xff, 0xff, 0xff, 0x0f, 0];
        assert!(read(&huge_count).is_err(), "more entries than the bytes can hold");
        let error = read(&bytes[..bytes.len() - 1]).expect_err("cut");
        assert_eq!(error.request_id, 1);
    }
}
