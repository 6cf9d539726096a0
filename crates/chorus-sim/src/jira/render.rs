//! Issues, users and comments in the exact JSON shapes Jira Cloud sends.
//!
//! Shapes follow the vendor recordings in `shared/fixtures/jira` (issue envelope with
//! `expand`/`id`/`self`/`key`/`fields`, users with `accountId`/`emailAddress`/
//! `avatarUrls`/`timeZone`, embedded comment pages with `comments`/`maxResults`/
//! `total`/`startAt`). Timestamps carry the user's offset (`-0700`). Invariant: a
//! field not asked for is not sent, and with no fields asked only `id` is sent.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::jql::{Field, SortValue};
use super::zone::SimZone;
use super::{SimComment, SimIssue, SimUser, ORGANIZATIONS_FIELD};

/// Which fields a search asked for.
#[derive(Debug, Clone)]
pub struct FieldSelection {
    all: bool,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl FieldSelection {
    /// From the request's `fields` (each entry may itself be comma-separated).
    pub fn new(fields: Option<&[String]>) -> Self {
        let mut selection = Self { all: false, include: Vec::new(), exclude: Vec::new() };
        for field in fields.unwrap_or_default().iter().flat_map(|f| f.split(',')).map(str::trim) {
            match field {
                "" => {}
                "*all" | "*navigable" => selection.all = true,
                f if f.starts_with('-') => selection.exclude.push(f.trim_start_matches('-').to_owned()),
                f => selection.include.push(f.to_owned()),
            }
        }
        selection
    }

    /// Whether only ids are returned (no fields, or just `id`).
    pub fn id_only(&self) -> bool {
        !self.all && self.include.iter().all(|f| f == "id")
    }

    fn wants(&self, field: &str) -> bool {
        (self.all || self.include.iter().any(|f| f == field)) && !self.exclude.iter().any(|f| f == field)
    }
}

fn avatar_urls(account_id: &str) -> Value {
    let url = |size: u32| {
        format!("https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/{account_id}/initials.png?size={size}&s={size}")
    };
    json!({"48x48": url(48), "24x24": url(24), "16x16": url(16), "32x32": url(32)})
}

/// A user as embedded in issues and comments (email omitted when hidden).
pub fn user(user: &SimUser, site: &str, zone: SimZone) -> Value {
    let mut value = json!({
        "self": format!("{site}/rest/api/3/user?accountId={}", user.account_id),
        "accountId": user.account_id,
    });
    if let Some(email) = &user.email {
        value["emailAddress"] = json!(email);
    }
    value["avatarUrls"] = avatar_urls(&user.account_id);
    value["displayName"] = json!(user.display_name);
    value["active"] = json!(true);
    value["timeZone"] = json!(zone.name());
    value["accountType"] = json!("atlassian");
    value
}

/// One comment as `GET /issue/{key}/comment` and the embedded page send it.
pub fn comment(issue: &SimIssue, comment: &SimComment, site: &str, zone: SimZone) -> Value {
    json!({
        "self": format!("{site}/rest/api/3/issue/{}/comment/{}", issue.id, comment.id),
        "id": comment.id.to_string(),
        "author": user(&comment.author, site, zone),
        "body": comment.body,
        "updateAuthor": user(&comment.author, site, zone),
        "created": zone.render(comment.created),
        "updated": zone.render(comment.updated),
        "jsdPublic": comment.public,
    })
}

fn all_fields(issue: &SimIssue, site: &str, zone: SimZone, embedded_comments: usize) -> Map<String, Value> {
    let (type_id, hierarchy) = match issue.issue_type.as_str() {
        "Bug" => ("10004", 0),
        "Story" => ("10001", 0),
        "Epic" => ("10000", 1),
        _ => ("10002", 0),
    };
    let status_id = match issue.status_category.as_str() {
        "new" => 2,
        "done" => 3,
        _ => 4,
    };
    let comments: Vec<Value> =
        issue.comments.iter().take(embedded_comments).map(|c| comment(issue, c, site, zone)).collect();
    let organizations: Vec<Value> = issue
        .organizations
        .iter()
        .map(|o| json!({"id": o.id.to_string(), "name": o.name, "_links": {"self": format!("{site}/rest/servicedeskapi/organization/{}", o.id)}}))
        .collect();
    let project_id = 10_000 + issue.project.bytes().map(u64::from).sum::<u64>();
    let mut fields = Map::new();
    fields.insert("summary".into(), json!(issue.summary));
    fields.insert(
        "issuetype".into(),
        json!({
            "self": format!("{site}/rest/api/3/issuetype/{type_id}"), "id": type_id, "description": "",
            "iconUrl": format!("{site}/images/icons/issuetypes/task.svg"), "name": issue.issue_type,
            "subtask": false, "hierarchyLevel": hierarchy
        }),
    );
    fields.insert(
        "status".into(),
        json!({
            "self": format!("{site}/rest/api/3/status/1000{status_id}"), "description": "", "iconUrl": format!("{site}/"),
            "name": issue.status, "id": format!("1000{status_id}"),
            "statusCategory": {
                "self": format!("{site}/rest/api/3/statuscategory/{status_id}"), "id": status_id,
                "key": issue.status_category, "colorName": "blue-gray",
                "name": match issue.status_category.as_str() { "new" => "To Do", "done" => "Done", _ => "In Progress" }
            }
        }),
    );
    fields.insert(
        "priority".into(),
        json!({"self": format!("{site}/rest/api/3/priority/3"), "iconUrl": format!("{site}/images/icons/priorities/medium.svg"), "name": issue.priority, "id": "3"}),
    );
    fields.insert("labels".into(), json!(issue.labels));
    fields.insert("description".into(), issue.description.clone());
    fields.insert(
        "comment".into(),
        json!({
            "comments": comments, "self": format!("{site}/rest/api/3/issue/{}/comment", issue.id),
            "maxResults": embedded_comments.min(issue.comments.len()), "total": issue.comments.len(), "startAt": 0
        }),
    );
    fields.insert("reporter".into(), user(&issue.reporter, site, zone));
    fields.insert("creator".into(), user(&issue.reporter, site, zone));
    fields.insert("assignee".into(), Value::Null);
    fields.insert("created".into(), json!(zone.render(issue.created)));
    fields.insert("updated".into(), json!(zone.render(issue.updated)));
    fields.insert(
        "project".into(),
        json!({
            "self": format!("{site}/rest/api/3/project/{project_id}"), "id": project_id.to_string(), "key": issue.project,
            "name": issue.project, "projectTypeKey": "software", "simplified": false, "avatarUrls": avatar_urls("project")
        }),
    );
    fields.insert(ORGANIZATIONS_FIELD.into(), json!(organizations));
    fields.insert("customfield_10019".into(), json!("0|i0077b:"));
    fields.insert("resolution".into(), Value::Null);
    fields.insert("environment".into(), Value::Null);
    fields
}

/// One issue in a search result, with the selected fields only.
pub fn issue(
    issue: &SimIssue,
    selection: &FieldSelection,
    site: &str,
    zone: SimZone,
    embedded_comments: usize,
) -> Value {
    if selection.id_only() {
        return json!({"id": issue.id.to_string()});
    }
    let fields: Map<String, Value> = all_fields(issue, site, zone, embedded_comments)
        .into_iter()
        .filter(|(name, _)| selection.wants(name))
        .collect();
    json!({
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": issue.id.to_string(),
        "self": format!("{site}/rest/api/3/issue/{}", issue.id),
        "key": issue.key(),
        "fields": fields,
    })
}

/// The opaque `nextPageToken`: the last issue's sort tuple.
pub fn encode_token(key: &[(SortValue, bool)]) -> String {
    let values: Vec<&SortValue> = key.iter().map(|(v, _)| v).collect();
    let raw = serde_json::to_vec(&values).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a token for `order`; `None` if it is not one of ours or not for this order.
pub fn decode_token(token: &str, order: &[(Field, bool)]) -> Option<Vec<(SortValue, bool)>> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let values: Vec<SortValue> = serde_json::from_slice(&raw).ok()?;
    let mut directions: Vec<bool> = Vec::new();
    for (field, asc) in order {
        directions.push(*asc);
        if *field == Field::Key {
            directions.push(*asc);
        }
    }
    directions.push(true);
    (values.len() == directions.len()).then(|| values.into_iter().zip(directions).collect())
}
