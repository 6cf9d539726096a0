//! `chorus.toml`: the typed configuration of a Chorus installation.
//!
//! Loading is a pure function of the file text and the environment: parse TOML,
//! substitute `${VAR}` in string values, apply `CHORUS__SECTION__KEY` overrides, then
//! deserialize with `deny_unknown_fields` and validate — ids, cron schedules, and each
//! connector's settings through its factory — without any I/O. Secrets stay inside
//! `chorus_core::Secret` from then on, and no error message echoes a value.

mod env;
mod model;

pub use env::{apply_overrides, substitute_vars};
pub use model::*;

use std::path::{Path, PathBuf};

use chorus_sync::Registry;

/// Why the configuration cannot be used. Messages name the key, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Where the config file is: `--config`, else `$CHORUS_CONFIG`, else `./chorus.toml`.
pub fn locate(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    match std::env::var_os("CHORUS_CONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("chorus.toml"),
    }
}

/// Reads and validates the config file with the process environment.
pub fn load(path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read { path: path.to_owned(), reason: e.to_string() })?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    parse(path, &text, &env, registry)
}

/// Parses and validates config text against an explicit environment (no I/O).
pub fn parse(path: &Path, text: &str, env: &[(String, String)], registry: &Registry) -> Result<Config, ConfigError> {
    let parse_err = |reason: String| ConfigError::Parse { path: path.to_owned(), reason };
    let mut value: toml::Value = toml::from_str(text).map_err(|e| parse_err(e.message().to_owned()))?;
    substitute_vars(&mut value, &|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .map_err(parse_err)?;
    apply_overrides(&mut value, env).map_err(parse_err)?;
    let config: Config =
        value.try_into().map_err(|e: toml::de::Error| parse_err(chorus_core::scrub_serde_message(e.message())))?;
    config.validate(registry).map_err(|reason| ConfigError::Invalid { path: path.to_owned(), reason })?;
    Ok(config)
}

/// The commented example `chorus init` writes.
pub const EXAMPLE: &str = include_str!("example.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_sync::Factory;

    fn registry() -> Registry {
        Registry::new(vec![Factory::<chorus_connector_feed::FeedConnector>::boxed()])
    }

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<_> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(Path::new("chorus.toml"), text, &env, &registry())
    }

    const FEED: &str = "[[connectors]]\nid = \"feed\"\nkind = \"feed\"\n[connectors.settings]\nbase_url = \"https://feed.example.com\"\n";

    #[test]
    fn the_example_config_loads() {
        let config = parse_with(EXAMPLE, &[]).expect("example parses");
        assert_eq!(config.store.url, "sqlite://chorus.db");
        assert!(config.connectors.is_empty());
    }

    #[test]
    fn web_session_settings_have_defaults_and_bounds() {
        let config = parse_with(EXAMPLE, &[]).expect("example parses");
        assert_eq!((config.server.session_hours, config.server.logins_per_minute), (12, 10));
        let config = parse_with("[server]\nsession_hours = 1\nlogins_per_minute = 3\n", &[]).expect("parses");
        assert_eq!((config.server.session_hours, config.server.logins_per_minute), (1, 3));
        for (text, key) in [
            ("[server]\nsession_hours = 0\n", "server.session_hours"),
            ("[server]\nsession_hours = 721\n", "server.session_hours"),
            ("[server]\nlogins_per_minute = 0\n", "server.logins_per_minute"),
        ] {
            let error = parse_with(text, &[]).expect_err(text).to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn money_priority_and_health_read_with_their_defaults() {
        let config = parse_with(EXAMPLE, &[]).expect("example parses");
        assert_eq!(config.money.reporting_currency, chorus_core::Currency::USD);
        assert_eq!(config.priority, chorus_core::PriorityWeights::default());
        assert_eq!(config.health, chorus_core::HealthThresholds::default());
        let text = "[money]\nreporting_currency = \"EUR\"\n[money.rates]\nUSD = \"0.92\"\nGBP = 1.17\n\
                    [priority]\nrecency_half_life_days = 30\n[priority.segments]\nenterprise = 1.2\n\
                    [[health.plans]]\nname = \"team\"\n[[health.plans]]\nname = \"enterprise\"\ncapabilities = [\"sso\"]\n";
        let config = parse_with(text, &[]).expect("tables parse");
        let eur = chorus_core::Money::new(100_000, chorus_core::Currency::EUR);
        assert_eq!(config.money.to_reporting(eur), Ok(100_000));
        let gbp = chorus_core::Money::parse(100_000, "GBP").expect("GBP");
        assert_eq!(config.money.to_reporting(gbp), Ok(117_000));
        assert_eq!(config.priority.recency_half_life_days, 30.0);
        assert_eq!(config.priority.segments["enterprise"], 1.2);
        assert_eq!(config.health.plans[1].capabilities, ["sso"]);
    }

    /// The example `chorus init` writes shows every key of these tables (with its
    /// default), so a newcomer sees every knob; maps and lists may stay commented.
    #[test]
    fn the_example_shows_every_money_priority_and_health_key() {
        let example: toml::Table = toml::from_str(EXAMPLE).expect("example is TOML");
        let defaults = [
            ("money", serde_json::to_value(chorus_core::ExchangeRates::default())),
            ("priority", serde_json::to_value(chorus_core::PriorityWeights::default())),
            ("health", serde_json::to_value(chorus_core::HealthThresholds::default())),
        ];
        for (table, default) in defaults {
            let default = default.expect("defaults serialize");
            let shown = example.get(table).and_then(toml::Value::as_table).expect("table in the example");
            for (key, value) in default.as_object().expect("a table") {
                if value.is_object() || value.is_array() {
                    continue;
                }
                assert!(shown.contains_key(key), "the example lacks {table}.{key}");
            }
        }
    }

    #[test]
    fn bad_weights_rates_and_thresholds_name_their_key() {
        let err = |text: &str| parse_with(text, &[]).expect_err("invalid").to_string();
        assert!(err("[priority]\nrenewal_boost = -1.0\n").contains("priority.renewal_boost"));
        assert!(err("[priority]\nhalf_life = 3\n").contains("half_life"));
        assert!(err("[money.rates]\nEUR = \"-1\"\n").contains("exchange rate"));
        assert!(err("[money.rates]\nUSD = 2\n").contains("money.rates.USD"));
        assert!(err("[money]\nreporting_currency = \"EURO\"\n").contains("ISO 4217"));
        assert!(err("[health]\ncsat_threshold = 7\n").contains("health.csat_threshold"));
        assert!(err("[health]\nperiod_days = 1000000\n").contains("health.period_days"));
    }

    #[test]
    fn connectors_are_validated_by_their_factory() {
        let config = parse_with(FEED, &[]).expect("valid feed");
        assert_eq!(config.connectors[0].settings["base_url"], "https://feed.example.com");
        let err = parse_with(&FEED.replace("base_url", "base_uri"), &[]).expect_err("unknown settings key").to_string();
        assert!(err.contains("base_uri"), "{err}");
        let twice = format!("{FEED}{FEED}");
        assert!(parse_with(&twice, &[]).expect_err("duplicate id").to_string().contains("duplicate"));
    }

    #[test]
    fn webhook_secrets_name_a_connector_that_takes_webhooks() {
        let config = parse_with(FEED, &[]).expect("valid");
        assert!(config.server.webhooks.is_empty());
        assert_eq!(config.server.webhook_debounce_ms, 2_000);
        let unknown = format!("[server.webhooks.jira-main]\nsecret = \"${{HOOK}}\"\n{FEED}");
        let err = parse_with(&unknown, &[("HOOK", "s3cret-hook")]).expect_err("no such connector").to_string();
        assert!(err.contains("server.webhooks.jira-main") && !err.contains("s3cret-hook"), "{err}");
        let feed = format!("[server.webhooks.feed]\nsecret = \"${{HOOK}}\"\n{FEED}");
        let err = parse_with(&feed, &[("HOOK", "s3cret-hook")]).expect_err("feeds send no webhooks").to_string();
        assert!(err.contains("take no webhooks"), "{err}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let text = format!("{FEED}[connectors.settings.auth]\ntype = \"bearer\"\ntoken = \"${{FEED_TOKEN}}\"\n");
        let config = parse_with(&text, &[("FEED_TOKEN", "tok-123")]).expect("token set");
        assert_eq!(config.connectors[0].settings["auth"]["token"], "tok-123");
        assert!(!format!("{config:?}").contains("tok-123"), "Debug of the config shows no secret");
        let err = parse_with(&text, &[]).expect_err("token unset").to_string();
        assert!(err.contains("FEED_TOKEN"), "{err}");
    }

    #[test]
    fn a_list_of_empty_lists_is_a_clear_error_not_a_spin() {
        let started = std::time::Instant::now();
        let err = parse_with("connectors = [[]]\n", &[]).expect_err("connectors must be tables").to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        assert!(err.starts_with("chorus.toml: "), "{err}");
        assert!(err.contains("invalid length [redacted], expected"), "{err}");
    }

    #[test]
    fn a_misplaced_secret_is_not_echoed() {
        let err = parse_with("connectors = \"s3cret\"\n", &[]).expect_err("connectors is a list");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn environment_overrides_win() {
        let config = parse_with(
            FEED,
            &[("CHORUS__STORE__URL", "postgres://db/chorus"), ("CHORUS__CONNECTORS__FEED__ENABLED", "false")],
        )
        .expect("overrides apply");
        assert_eq!(config.store.url, "postgres://db/chorus");
        assert!(!config.connectors[0].enabled);
    }
}
