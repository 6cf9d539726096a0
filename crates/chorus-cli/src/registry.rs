//! The one list of connector kinds this binary knows. Adding a source is one line here.

use chorus_sync::{Factory, Registry};

/// Every connector, explicitly.
pub fn registry() -> Registry {
    Registry::new(vec![
        Factory::<chorus_connector_feed::FeedConnector>::boxed(),
        Factory::<chorus_connector_jira::JiraConnector>::boxed(),
        Factory::<chorus_connector_zendesk::ZendeskConnector>::boxed(),
        Factory::<chorus_connector_salesforce::SalesforceConnector>::boxed(),
        Factory::<chorus_connector_slack::SlackConnector>::boxed(),
    ])
}
