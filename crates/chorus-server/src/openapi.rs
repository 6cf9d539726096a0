//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire
//! types, and served at `/api/v1/openapi.json`.
//!
//! Each operation also says the role it needs (`x-required-role`, and a line in its
//! description), taken from the access table, so the document cannot disagree with
//! what the server enforces. `schemas/openapi.json` is this document as committed; a
//! test fails when they drift, and another when a route of the table is missing here.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::access::{Access, ROUTES};
use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chorus API",
        description = "Every piece of customer feedback in one place, ranked by revenue. \
                       Send `Authorization: Bearer <token>`; create tokens with `chorus tokens create`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::health::metrics,
        document,
        api::search::search,
        api::items::get_item,
        api::accounts::list,
        api::accounts::get_account,
        api::accounts::merge,
        api::accounts::split,
        api::accounts::link_item,
        api::triage::list,
        api::requests::list,
        api::requests::create,
        api::requests::get_request,
        api::requests::update,
        api::requests::merge,
        api::requests::link_items,
        api::requests::unlink_item,
        api::requests::ship,
        api::suggestions::list,
        api::suggestions::accept,
        api::suggestions::reject,
        api::suggestions::likely_requests,
        api::connectors::list,
        api::connectors::status,
        api::connectors::runs,
        api::connectors::trigger,
        api::runs::list,
        api::tokens::list,
        api::tokens::create,
        api::tokens::revoke,
    ),
    components(schemas(crate::ErrorBody)),
    modifiers(&Roles),
    tags(
        (name = "search", description = "Full-text search with reach and facets"),
        (name = "items", description = "Feedback items"),
        (name = "accounts", description = "Accounts with health and provenance, and the triage queue"),
        (name = "requests", description = "Requests ranked by revenue, with their breakdown and links"),
        (name = "connectors", description = "Connectors, their runs, and on-demand syncs"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme and each operation's required role from the access table.
struct Roles;

impl Modify for Roles {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        for route in ROUTES {
            let Access::Token(role) = route.access else { continue };
            let Some(item) = openapi.paths.paths.get_mut(route.path) else { continue };
            let operation = match route.method.as_str() {
                "GET" => item.get.as_mut(),
                "POST" => item.post.as_mut(),
                "PUT" => item.put.as_mut(),
                "PATCH" => item.patch.as_mut(),
                "DELETE" => item.delete.as_mut(),
                _ => None,
            };
            let Some(operation) = operation else { continue };
            let line = format!("Requires a token with the `{role}` role (or `admin`).");
            operation.description = Some(match operation.description.take() {
                Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                _ => line,
            });
            let mut extensions = operation.extensions.take().unwrap_or_default();
            extensions.merge(
                utoipa::openapi::extensions::ExtensionsBuilder::new().add("x-required-role", role.as_str()).build(),
            );
            operation.extensions = Some(extensions);
        }
    }
}

/// The document, as JSON.
pub fn json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)),
    security(("bearer" = []))
)]
pub async fn document() -> Json<serde_json::Value> {
    Json(json())
}
