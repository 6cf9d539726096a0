//! Money: integer amounts in minor units of an ISO 4217 currency, and their conversion
//! to one reporting currency with configured exchange rates.
//!
//! Amounts are never floats: `Money` is an `i64` of minor units (cents for EUR, yen for
//! JPY, fils for KWD: the exponent comes from the ISO 4217 table of `iso_currency`).
//! A rate is an exact decimal parsed from the config text, and a conversion is exact
//! integer arithmetic in `i128`, rounded once, half away from zero, to the reporting
//! currency's minor unit. A currency without a configured rate is an error naming it,
//! never a silent 1:1 sum.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why an amount cannot be read or converted. Messages name currencies, never amounts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("{0} has no minor unit and cannot be an amount")]
    NoMinorUnit(Currency),
    #[error("no exchange rate from {from} to {to}: add `{from} = \"<{to} per {from}>\"` under [money.rates]")]
    MissingRate { from: Currency, to: Currency },
    #[error("exchange rate `{0}`: {1}")]
    InvalidRate(String, &'static str),
    #[error("converting {from} to {to} overflows")]
    Overflow { from: Currency, to: Currency },
}

/// An ISO 4217 currency, written as its three-letter code (`EUR`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub const USD: Currency = Currency(iso_currency::Currency::USD);
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(self) -> Result<u32, MoneyError> {
        self.0.exponent().map(u32::from).ok_or(MoneyError::NoMinorUnit(self))
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    /// Accepts the code in any case, surrounding blanks ignored.
    fn from_str(raw: &str) -> Result<Self, MoneyError> {
        let code = raw.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&code).map(Currency).ok_or(MoneyError::UnknownCurrency(code))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
            "description": "ISO 4217 currency code, e.g. `EUR`"
        })
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// From a stored pair such as an account's `arr_minor` and `currency` text.
    pub fn parse(minor: i64, currency: &str) -> Result<Self, MoneyError> {
        Ok(Self { minor, currency: currency.parse()? })
    }
}

/// `1250000.00 USD`: major units with the currency's minor digits (minor units alone
/// for a currency without a minor unit).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.exponent().unwrap_or(0);
        let sign = if self.minor < 0 { "-" } else { "" };
        let minor = self.minor.unsigned_abs();
        match 10u64.checked_pow(digits) {
            Some(scale) if digits > 0 => {
                let width = digits as usize;
                write!(f, "{sign}{}.{:0width$} {}", minor / scale, minor % scale, self.currency)
            }
            _ => write!(f, "{sign}{minor} {}", self.currency),
        }
    }
}

/// An exact positive decimal: `mantissa / 10^scale`, e.g. `1.0825` = 10825 / 10^4,
/// kept without trailing zeros so that equal rates compare equal (`1.10` is `1.1`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    mantissa: i128,
    scale: u32,
}

/// Digits a rate may carry; more would overflow a conversion of a large amount.
const MAX_RATE_DIGITS: usize = 18;

impl Rate {
    pub const ONE: Rate = Rate { mantissa: 1, scale: 0 };
}

impl FromStr for Rate {
    type Err = MoneyError;
    /// A plain decimal (`1.0825`, `150`, `0.0067`): no sign, no exponent, greater than zero.
    fn from_str(raw: &str) -> Result<Self, MoneyError> {
        let text = raw.trim();
        let invalid = |why| MoneyError::InvalidRate(text.chars().take(40).collect(), why);
        let (whole, written_fraction) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() && written_fraction.is_empty() {
            return Err(invalid("not a decimal number"));
        }
        if !whole.bytes().chain(written_fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(invalid("write a plain decimal such as 1.0825"));
        }
        let fraction = written_fraction.trim_end_matches('0');
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        if significant.len() > MAX_RATE_DIGITS || fraction.len() > MAX_RATE_DIGITS {
            return Err(invalid("more than 18 digits"));
        }
        let mantissa: i128 = significant.parse().unwrap_or(0);
        if mantissa == 0 {
            return Err(invalid("must be greater than zero"));
        }
        let scale = u32::try_from(fraction.len()).map_err(|_| invalid("more than 18 digits"))?;
        Ok(Rate { mantissa, scale })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return f.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{whole}.{fraction}")
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A rate is written as a decimal string (exact) or a TOML/JSON number, which is read
/// through its shortest decimal form, so `1.0825` means exactly 1.0825.
impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal exchange rate such as \"1.0825\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                if !v.is_finite() {
                    return Err(E::custom("exchange rate: not a finite number"));
                }
                // `Display` of an f64 is its shortest round-trip decimal, never an exponent.
                v.to_string().parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Units of the reporting currency per one unit of this currency, as a decimal",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]*\\.?[0-9]+$" },
                { "type": "number", "exclusiveMinimum": 0 }
            ]
        })
    }
}

/// `[money]`: the reporting currency every sum is shown in, and the rates into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRates {
    /// The currency sums of ARR and pipeline are shown in.
    #[serde(default = "default_reporting_currency")]
    pub reporting_currency: Currency,
    /// Units of the reporting currency per one unit of each other currency, e.g.
    /// `EUR = "1.0825"` when one euro is 1.0825 US dollars.
    #[serde(default)]
    pub rates: BTreeMap<Currency, Rate>,
}

fn default_reporting_currency() -> Currency {
    Currency::USD
}

impl Default for ExchangeRates {
    fn default() -> Self {
        Self { reporting_currency: default_reporting_currency(), rates: BTreeMap::new() }
    }
}

impl ExchangeRates {
    pub fn new(reporting_currency: Currency) -> Self {
        Self { reporting_currency, rates: BTreeMap::new() }
    }

    /// Adds `rate` units of the reporting currency per unit of `currency`.
    pub fn with_rate(mut self, currency: Currency, rate: Rate) -> Self {
        self.rates.insert(currency, rate);
        self
    }

    /// Checks what the types cannot: the reporting currency's own rate, if given, is 1,
    /// and every currency has a minor unit.
    pub fn validate(&self) -> Result<(), String> {
        self.reporting_currency.exponent().map_err(|e| format!("reporting_currency: {e}"))?;
        for (currency, rate) in &self.rates {
            currency.exponent().map_err(|e| format!("rates.{currency}: {e}"))?;
            if *currency == self.reporting_currency && *rate != Rate::ONE {
                return Err(format!("rates.{currency}: the reporting currency's own rate is 1"));
            }
        }
        Ok(())
    }

    /// Whether amounts in `currency` can be converted: the errors of `to_reporting` but
    /// an overflow, without converting anything.
    pub fn check(&self, currency: Currency) -> Result<(), MoneyError> {
        let to = self.reporting_currency;
        if currency == to {
            return Ok(());
        }
        self.rates.get(&currency).ok_or(MoneyError::MissingRate { from: currency, to })?;
        currency.exponent()?;
        to.exponent()?;
        Ok(())
    }

    /// The amount in minor units of the reporting currency, rounded half away from zero.
    pub fn to_reporting(&self, amount: Money) -> Result<i64, MoneyError> {
        let to = self.reporting_currency;
        let from = amount.currency;
        if from == to {
            return Ok(amount.minor);
        }
        let rate = self.rates.get(&from).ok_or(MoneyError::MissingRate { from, to })?;
        convert(amount.minor, from.exponent()?, to.exponent()?, *rate).ok_or(MoneyError::Overflow { from, to })
    }
}

/// `minor × 10^to_exp × mantissa / (10^from_exp × 10^scale)`, rounded half away from zero.
fn convert(minor: i64, from_exp: u32, to_exp: u32, rate: Rate) -> Option<i64> {
    let numerator = i128::from(minor).checked_mul(10_i128.checked_pow(to_exp)?)?.checked_mul(rate.mantissa)?;
    let denominator = 10_i128.checked_pow(from_exp.checked_add(rate.scale)?)?;
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    let rounded = if remainder.abs() * 2 >= denominator { quotient + numerator.signum() } else { quotient };
    i64::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_displays_in_major_units_with_its_currency() {
        let shown = |minor: i64, code: &str| Money::new(minor, cur(code)).to_string();
        assert_eq!(shown(125_000_000, "usd"), "1250000.00 USD");
        assert_eq!(shown(-5, "EUR"), "-0.05 EUR");
        assert_eq!(shown(139_000_000, "JPY"), "139000000 JPY");
        assert_eq!(shown(1_500, "KWD"), "1.500 KWD");
        assert_eq!(shown(i64::MIN, "USD"), "-92233720368547758.08 USD");
    }

    fn cur(code: &str) -> Currency {
        code.parse().expect("known currency")
    }

    fn rate(text: &str) -> Rate {
        text.parse().expect("valid rate")
    }

    #[test]
    fn currencies_parse_with_their_minor_unit() {
        assert_eq!(cur(" eur ").code(), "EUR");
        assert_eq!(cur("JPY").exponent(), Ok(0));
        assert_eq!(cur("KWD").exponent(), Ok(3));
        assert_eq!("EURO".parse::<Currency>(), Err(MoneyError::UnknownCurrency("EURO".into())));
        assert_eq!(cur("XAU").exponent(), Err(MoneyError::NoMinorUnit(cur("XAU"))));
    }

    #[test]
    fn rates_are_exact_decimals() {
        assert_eq!(rate("1.0825").to_string(), "1.0825");
        assert_eq!(rate("0.0067").to_string(), "0.0067");
        assert_eq!(rate("150").to_string(), "150");
        assert_eq!(rate(".5").to_string(), "0.5");
        // trailing zeros say nothing: equal rates are equal
        assert_eq!(rate("1.10"), rate("1.1"));
        assert_eq!(rate("1.10").to_string(), "1.1");
        assert_eq!(rate("1.000"), Rate::ONE);
        assert_eq!(rate("150.0"), rate("150"));
        assert_eq!(rate("1.0000000000000000000").to_string(), "1", "zeros are no precision");
        for bad in ["0", "0.000", "-1.2", "1e3", "1,5", "", ".", "abc", "1.0000000000000000001"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn conversion_is_exact_and_rounds_half_away_from_zero() {
        let rates = ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, rate("1.0825"));
        // 100 000.00 EUR × 1.0825 = 108 250.00 USD, exactly.
        assert_eq!(rates.to_reporting(Money::new(10_000_000, Currency::EUR)), Ok(10_825_000));
        // 0.02 EUR × 1.0825 = 0.02165 USD → 0.02; 0.10 EUR → 0.10825 USD → 0.11
        assert_eq!(rates.to_reporting(Money::new(2, Currency::EUR)), Ok(2));
        assert_eq!(rates.to_reporting(Money::new(10, Currency::EUR)), Ok(11));
        // exactly half a cent (0.02 × 0.25 = 0.005) rounds away from zero, either sign
        let quarter = ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, rate("0.25"));
        assert_eq!(quarter.to_reporting(Money::new(2, Currency::EUR)), Ok(1));
        assert_eq!(quarter.to_reporting(Money::new(-2, Currency::EUR)), Ok(-1));
        // the reporting currency itself passes through unchanged
        assert_eq!(rates.to_reporting(Money::new(123, Currency::USD)), Ok(123));
    }

    #[test]
    fn conversion_honours_each_currencys_minor_unit() {
        let rates =
            ExchangeRates::new(Currency::EUR).with_rate(cur("JPY"), rate("0.0062")).with_rate(cur("KWD"), rate("3"));
        // 1 000 000 JPY (exponent 0) × 0.0062 = 6 200.00 EUR
        assert_eq!(rates.to_reporting(Money::new(1_000_000, cur("JPY"))), Ok(620_000));
        // 1.500 KWD (exponent 3) × 3 = 4.50 EUR
        assert_eq!(rates.to_reporting(Money::new(1_500, cur("KWD"))), Ok(450));
    }

    #[test]
    fn a_missing_rate_is_an_error_never_one_to_one() {
        let rates = ExchangeRates::new(Currency::USD);
        let err = rates.to_reporting(Money::new(100, Currency::EUR)).expect_err("no EUR rate");
        assert_eq!(err, MoneyError::MissingRate { from: Currency::EUR, to: Currency::USD });
        assert!(err.to_string().contains("[money.rates]"), "{err}");
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let rates = ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, rate("999999999999999999"));
        let err = rates.to_reporting(Money::new(i64::MAX, Currency::EUR)).expect_err("too large");
        assert_eq!(err, MoneyError::Overflow { from: Currency::EUR, to: Currency::USD });
    }

    #[test]
    fn rates_read_from_strings_or_numbers() {
        let rates: ExchangeRates =
            serde_json::from_str(r#"{"reporting_currency": "usd", "rates": {"EUR": 1.0825, "GBP": "1.27", "JPY": 1}}"#)
                .expect("rates parse");
        assert_eq!(rates.rates[&Currency::EUR], rate("1.0825"));
        assert_eq!(rates.rates[&cur("GBP")], rate("1.27"));
        assert_eq!(rates.rates[&cur("JPY")], Rate::ONE);
        assert!(serde_json::from_str::<ExchangeRates>(r#"{"rates": {"EUR": -1}}"#).is_err());
        assert!(serde_json::from_str::<ExchangeRates>(r#"{"rates": {"EURO": 1}}"#).is_err());
        assert!(serde_json::from_str::<ExchangeRates>(r#"{"rate": {}}"#).is_err(), "unknown keys are refused");
        let own = ExchangeRates::new(Currency::USD).with_rate(Currency::USD, rate("1.1"));
        assert!(own.validate().is_err());
        assert!(ExchangeRates::new(Currency::USD).with_rate(Currency::USD, rate("1.00")).validate().is_ok());
    }
}
