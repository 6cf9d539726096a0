//! Chorus domain types, shared by every other crate.
//!
//! This crate does no I/O. It names the things Chorus keeps — items of feedback,
//! accounts, contacts, requests and the links between them — and the records a
//! connector emits before the store gives them an identity; and the pure rules over
//! them: money and currency conversion, registered domains, request priority with its
//! breakdown, account health. Everything that crosses a crate boundary is defined here once.

pub mod account;
pub mod domain;
mod free_mail;
pub mod health;
pub mod item;
pub mod lifecycle;
pub mod link;
pub mod money;
mod names;
pub mod priority;
pub mod record;
pub mod request;
pub mod secret;
pub mod source_id;

pub use account::{Account, Contact, ExternalId, LifecycleStage};
pub use health::{account_health, Health, HealthThresholds};
pub use item::{Comment, Item, Kind, Person, Source};
pub use lifecycle::{ArrStages, LifecycleRule};
pub use link::{LinkProvenance, ParseEnumError};
pub use money::{Currency, ExchangeRates, Money, MoneyError, Rate};
pub use priority::{PriorityModel, PriorityWeights, Score};
pub use record::{AccountRecord, ContactRecord, EntityKind, ItemRecord, OpportunityRecord, Record, SourceRef};
pub use request::{mentioned_issue_keys, Request, RequestStatus};
pub use secret::{scrub_serde_message, Secret};
