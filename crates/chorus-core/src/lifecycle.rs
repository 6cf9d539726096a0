//! The lifecycle stage of an account, from what a source says: the stage a field's
//! value names, else the value map a person configured, else (when configured) a rule
//! from the record's own ARR.
//!
//! A CRM's stage field rarely uses our six words: Salesforce's Account `Type` says
//! `Prospect` or `Customer - Direct`. One rule serves every source (Salesforce, Zendesk,
//! the JSON Lines and CSV import), so the same value gives the same stage wherever it
//! comes from. Invariant: a value that names no stage and is not in the map gives no
//! stage (never a guess), and the ARR rule only speaks when the record gave no usable
//! value and a person turned it on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::LifecycleStage;

impl LifecycleStage {
    /// The stage `label` names, compared without case and surrounding space
    /// (`Retention`, ` loyalty `); `None` for anything else.
    pub fn from_label(label: &str) -> Option<Self> {
        let label = label.trim();
        Self::ALL.iter().copied().find(|stage| stage.as_str().eq_ignore_ascii_case(label))
    }
}

/// Reads a stage as [`LifecycleStage::from_label`] does (any case, surrounding space);
/// an unknown one is an error that lists the known ones. For `#[serde(deserialize_with)]`.
pub fn deserialize_label<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<LifecycleStage>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    if text.trim().is_empty() {
        return Ok(None);
    }
    match LifecycleStage::from_label(&text) {
        Some(stage) => Ok(Some(stage)),
        // The strict parse's error names the stages.
        None => text.parse::<LifecycleStage>().map(Some).map_err(serde::de::Error::custom),
    }
}

/// How a source's stage field (and, optionally, the record's ARR) gives a lifecycle
/// stage: the `[… .lifecycle]` table of the Salesforce and Zendesk connectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleRule {
    /// Values of the stage field that are not stage names, each with the stage it means,
    /// compared without case and surrounding space: `"Customer - Direct" = "retention"`.
    /// A stage that is not one of the six is refused when the config loads.
    pub values: BTreeMap<String, LifecycleStage>,
    /// When the record gives no usable value: the stage its ARR implies. Off unless set.
    pub by_arr: Option<ArrStages>,
}

/// The stage of an account that pays (ARR above zero) and of one that does not (zero or
/// no ARR), e.g. `retention` and `acquisition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrStages {
    pub paying: LifecycleStage,
    pub not_paying: LifecycleStage,
}

impl LifecycleRule {
    /// Checks the rule without I/O: no blank value, none listed twice (in any case).
    pub fn validate(&self, key: &str) -> Result<(), String> {
        let mut seen: Vec<String> = Vec::with_capacity(self.values.len());
        for value in self.values.keys() {
            let folded = value.trim().to_lowercase();
            if folded.is_empty() {
                return Err(format!("{key}.values: a value is blank"));
            }
            if seen.contains(&folded) {
                return Err(format!("{key}.values: `{}` is listed twice (values compare without case)", value.trim()));
            }
            seen.push(folded);
        }
        Ok(())
    }

    /// Whether the rule maps anything beyond the stage names.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.by_arr.is_none()
    }

    /// The stage a record gives: its field's `value` when that names a stage, else the
    /// value's mapped stage, else (when the value gave nothing and `by_arr` is set) the
    /// stage its ARR in minor units implies.
    pub fn stage(&self, value: Option<&str>, arr_minor: Option<i64>) -> Option<LifecycleStage> {
        let value = value.map(str::trim).filter(|value| !value.is_empty());
        let named = value.and_then(|value| {
            LifecycleStage::from_label(value).or_else(|| {
                let folded = value.to_lowercase();
                self.values.iter().find(|(key, _)| key.trim().to_lowercase() == folded).map(|(_, stage)| *stage)
            })
        });
        named.or_else(|| self.by_arr.map(|by| if arr_minor.unwrap_or(0) > 0 { by.paying } else { by.not_paying }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleStage::{Acquisition, Loyalty, Retention};

    fn crm_rule() -> LifecycleRule {
        LifecycleRule {
            values: [("Prospect", Acquisition), ("Customer - Direct", Retention), ("Customer - Channel", Retention)]
                .into_iter()
                .map(|(value, stage)| (value.to_owned(), stage))
                .collect(),
            by_arr: Some(ArrStages { paying: Retention, not_paying: Acquisition }),
        }
    }

    #[test]
    fn a_value_naming_a_stage_is_that_stage_in_any_case() {
        let rule = LifecycleRule::default();
        assert_eq!(rule.stage(Some(" Loyalty "), None), Some(Loyalty));
        assert_eq!(rule.stage(Some("RETENTION"), Some(0)), Some(Retention));
        assert_eq!(rule.stage(Some("Customer - Direct"), Some(5)), None, "no map, no ARR rule: no guess");
        assert_eq!(rule.stage(None, Some(5)), None);
    }

    #[test]
    fn other_values_go_through_the_map_without_case() {
        let rule = crm_rule();
        assert_eq!(rule.stage(Some("customer - direct"), None), Some(Retention));
        assert_eq!(rule.stage(Some("Prospect"), Some(9_900)), Some(Acquisition), "the field beats the ARR rule");
        assert_eq!(rule.stage(Some("Loyalty"), None), Some(Loyalty), "a stage name needs no map entry");
    }

    #[test]
    fn the_arr_rule_speaks_only_without_a_usable_value() {
        let rule = crm_rule();
        assert_eq!(rule.stage(None, Some(12_000_000)), Some(Retention));
        assert_eq!(rule.stage(Some("  "), Some(0)), Some(Acquisition));
        assert_eq!(rule.stage(Some("Other"), None), Some(Acquisition), "an unmapped value is no usable value");
        let off = LifecycleRule { by_arr: None, ..crm_rule() };
        assert_eq!(off.stage(Some("Other"), Some(1)), None);
    }

    #[test]
    fn an_unknown_stage_in_the_map_is_refused_at_load() {
        let err = serde_json::from_value::<LifecycleRule>(serde_json::json!({"values": {"Prospect": "prospecting"}}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("prospecting") && err.contains("acquisition"), "{err}");
        let twice = serde_json::from_value::<LifecycleRule>(
            serde_json::json!({"values": {"Prospect": "acquisition", "prospect ": "reach"}}),
        )
        .map(|rule| rule.validate("lifecycle"));
        assert!(matches!(twice, Ok(Err(ref e)) if e.contains("listed twice")), "{twice:?}");
    }

    #[test]
    fn import_labels_read_in_any_case_and_refuse_unknown_ones() {
        #[derive(Deserialize)]
        struct Line {
            #[serde(default, deserialize_with = "deserialize_label")]
            stage: Option<LifecycleStage>,
        }
        let read = |value: serde_json::Value| serde_json::from_value::<Line>(value).map(|line| line.stage);
        assert_eq!(read(serde_json::json!({"stage": "Advocacy"})).ok(), Some(Some(LifecycleStage::Advocacy)));
        assert_eq!(read(serde_json::json!({})).ok(), Some(None));
        assert!(read(serde_json::json!({"stage": "Customer"})).is_err());
    }
}
