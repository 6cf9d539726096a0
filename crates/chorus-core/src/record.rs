//! Records: what a connector emits for one page, before the store assigns identities.
//!
//! A record names its entity by the source's external id only; the store upserts it
//! under the key `(connector, external_id)`, so reading the same record twice (an
//! inclusive lower bound, a repeat across page boundaries) changes nothing.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Comment, Kind, LifecycleStage, Person, Source};

/// One change read from a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Item(ItemRecord),
    Account(AccountRecord),
    Contact(ContactRecord),
    /// A sales opportunity (pipeline) on an account.
    Opportunity(OpportunityRecord),
    /// The source deleted this entity: the store keeps a tombstone.
    Deleted {
        entity: EntityKind,
        external_id: String,
    },
}

crate::string_enum! {
    /// What a `Record::Deleted` removes.
    pub enum EntityKind ("entity kind") {
        Item => "item",
        Account => "account",
        Contact => "contact",
        Opportunity => "opportunity",
    }
}

impl Record {
    /// The external id of the entity the record is about.
    pub fn external_id(&self) -> &str {
        match self {
            Record::Item(item) => &item.external_id,
            Record::Account(account) => &account.external_id,
            Record::Contact(contact) => &contact.external_id,
            Record::Opportunity(opportunity) => &opportunity.external_id,
            Record::Deleted { external_id, .. } => external_id,
        }
    }
}

/// A piece of feedback as a connector read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ItemRecord {
    pub external_id: String,
    #[serde(default)]
    pub key: Option<String>,
    pub kind: Kind,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub url: Option<String>,
    pub status: String,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub author: Person,
    /// The account as the source names it: the external id of an account record of the
    /// same connector (a Zendesk organization id, a Salesforce account id).
    #[serde(default)]
    pub account_external_id: Option<String>,
    /// An account named in free text (a Jira custom field holding organization names).
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub csat: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The source payload, kept verbatim for re-normalization.
    #[serde(default)]
    pub raw: serde_json::Value,
}

/// A customer company as one source knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountRecord {
    pub external_id: String,
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    /// ARR in minor units, when this source is authoritative for revenue.
    #[serde(default)]
    pub arr_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub lifecycle_stage: Option<LifecycleStage>,
    #[serde(default)]
    pub csm_owner: Option<String>,
    #[serde(default)]
    pub renewal_date: Option<NaiveDate>,
    #[serde(default)]
    pub parent_external_id: Option<String>,
    /// The plan the account is on (for upsell signals), when the source knows it.
    #[serde(default)]
    pub plan: Option<String>,
    /// Records of other sources this one says it is (a Zendesk organization whose
    /// `external_id` holds a Salesforce Account Id): the store merges them by id.
    #[serde(default)]
    pub same_as: Vec<SourceRef>,
    #[serde(default)]
    pub raw: serde_json::Value,
}

/// Another source's id for the same thing, as a record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SourceRef {
    pub source: Source,
    pub id: String,
}

/// A person as one source knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactRecord {
    pub external_id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The external id of the contact's account record in the same connector.
    #[serde(default)]
    pub account_external_id: Option<String>,
}

/// A sales opportunity as one source (a CRM) knows it: pipeline on an account.
///
/// The amount is an integer in minor units of `currency`, never a float. A blocker the
/// opportunity carries is an item of kind `sales_blocker` of the same connector, named
/// by `blocker_external_id`, so the item itself needs no pipeline fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpportunityRecord {
    pub external_id: String,
    pub name: String,
    /// The external id of the opportunity's account record in the same connector.
    #[serde(default)]
    pub account_external_id: Option<String>,
    #[serde(default)]
    pub amount_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    pub stage: String,
    /// Chance to close, in percent (0–100).
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub close_date: Option<NaiveDate>,
    pub closed: bool,
    pub won: bool,
    /// The external id of the `sales_blocker` item made from this opportunity, if any.
    #[serde(default)]
    pub blocker_external_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}
