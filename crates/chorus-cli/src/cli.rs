//! Command-line arguments: the stable interface outside tools script against.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "chorus", version, about = "Chorus: every piece of customer feedback in one place, ranked by revenue")]
pub struct Cli {
    /// Config file; default $CHORUS_CONFIG, else ./chorus.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example chorus.toml.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate the config, open the store, and try each connector's credentials.
    Check,
    /// Run connectors once (all enabled ones by default).
    Sync {
        /// Only these connectors (repeatable).
        #[arg(long = "connector", value_name = "ID")]
        connectors: Vec<String>,
        /// Start from the beginning instead of the stored cursor.
        #[arg(long)]
        full: bool,
    },
    /// Print items, accounts or requests as JSON Lines.
    Export {
        what: Entity,
        /// Include tombstoned (deleted at the source) items.
        #[arg(long)]
        include_deleted: bool,
        /// Only items of this connector.
        #[arg(long = "connector", value_name = "ID")]
        connector: Option<String>,
    },
    /// Read JSON Lines (the export's shape) from FILE or stdin.
    Import {
        what: ImportEntity,
        /// File to read; `-` or absent for stdin.
        file: Option<PathBuf>,
        /// Items: the connector id to file them under.
        #[arg(long = "connector", default_value = "import")]
        connector: String,
    },
    /// Search every item: AND by default, "phrases", -exclusions, title:/body: prefixes.
    Search(Box<SearchArgs>),
    /// Rebuild the search index from the store (searches keep answering meanwhile).
    Reindex,
    /// Show the sync run history, newest first.
    Runs {
        #[arg(long = "connector", value_name = "ID")]
        connector: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Requests ranked by the revenue of the accounts asking, and the commands that shape them.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Accounts: list them, show one with health and provenance, merge, split, import.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Link an item to an account or a request by hand (a manual link wins over any sync).
    Link(LinkArgs),
    /// Items that resolve to no account, newest day first and the richest first within it.
    Triage {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Continue after this position (the `next` a previous page printed).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Serve the HTTP API and run connectors on their schedules.
    Serve,
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Run the whole product against built-in simulators: no credentials, no network.
    Demo {
        /// Directory for the demo's config, database and index.
        #[arg(long, default_value = ".chorus/demo")]
        dir: PathBuf,
        /// Sync and print a summary, then exit instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
}

/// `chorus tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Mint a token and print it once on stdout.
    Create {
        /// Who or what uses it (`ci`, `alice`).
        #[arg(long)]
        name: String,
        /// viewer (search, read), pm (requests), csm (accounts, links, triage) or admin.
        #[arg(long, value_parser = parse_role)]
        role: chorus_store::Role,
    },
    /// List tokens (never their text).
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke a token at once.
    Revoke { id: i64 },
}

fn parse_role(text: &str) -> Result<chorus_store::Role, String> {
    text.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Entity {
    Items,
    Accounts,
    Requests,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportEntity {
    Items,
    Accounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// How search hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    /// Relevance × the revenue factor of the item's account.
    Weighted,
    Relevance,
    Recency,
    Revenue,
}

/// `chorus search` arguments: the query, filters, order and output. Every filter may
/// be repeated: values of one filter are alternatives (OR), filters combine with AND.
#[derive(Debug, Args)]
pub struct SearchArgs {
    pub query: String,
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<chorus_core::Kind>,
    #[arg(long, value_name = "SOURCE")]
    pub source: Vec<chorus_core::Source>,
    /// A connector id (as in `chorus.toml`, or an import's `--connector`).
    #[arg(long, value_name = "ID")]
    pub connector: Vec<String>,
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    #[arg(long, value_name = "SEGMENT")]
    pub segment: Vec<String>,
    #[arg(long = "stage", value_name = "STAGE")]
    pub lifecycle_stage: Vec<chorus_core::LifecycleStage>,
    #[arg(long = "account", value_name = "ID")]
    pub account_id: Vec<i64>,
    /// Items linked to this request.
    #[arg(long = "request", value_name = "ID")]
    pub request_id: Vec<i64>,
    /// Only items linked to a request.
    #[arg(long, conflicts_with = "unlinked")]
    pub linked: bool,
    /// Only items linked to no request.
    #[arg(long)]
    pub unlinked: bool,
    /// Only items created (or updated, see `--date`) at or after this time: RFC 3339
    /// (`2026-01-31T09:00:00Z`) or a UTC date (`2026-01-31`).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only items created (or updated) before this time (same forms as `--since`).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Which time `--since`/`--until` compare.
    #[arg(long, value_enum, default_value_t = DateField::Created)]
    pub date: DateField,
    #[arg(long, value_enum, default_value_t = SortBy::Weighted)]
    pub sort: SortBy,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The item time a date range of `chorus search` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DateField {
    Created,
    Updated,
}

/// An RFC 3339 time, or a date meaning its midnight UTC.
fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| format!("`{text}` is neither an RFC 3339 time (2026-01-31T09:00:00Z) nor a date (2026-01-31)"))
}

/// `chorus requests` subcommands. REQ and ITEM are store ids (`chorus export`, `search`).
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Live requests by priority, highest first, with their top factors.
    List {
        /// Only requests in these statuses (repeatable).
        #[arg(long, value_name = "STATUS")]
        status: Vec<chorus_core::RequestStatus>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One request's score with its breakdown: per account each factor, pipeline,
    /// counts, ARR at the ask against today's, and its links.
    Show {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Create a request.
    Create {
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Rename a request (and replace its description when given).
    Rename {
        #[arg(value_name = "REQ")]
        request: i64,
        title: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Link items to a request by hand (never overwritten by a sync).
    Link {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(value_name = "ITEM", required = true)]
        items: Vec<i64>,
    },
    /// Remove items' links to a request.
    Unlink {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(value_name = "ITEM", required = true)]
        items: Vec<i64>,
    },
    /// Merge request FROM into INTO: every link and rejection moves, FROM points to INTO.
    Merge { from: i64, into: i64 },
    /// Mark a request shipped.
    Ship {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Set a request's status (open, planned, in_progress, shipped, declined).
    Status {
        #[arg(value_name = "REQ")]
        request: i64,
        status: chorus_core::RequestStatus,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make the synced Jira issue KEY (PROD-123) the anchor of a new request; items
    /// mentioning the key link to it, now and on every later sync.
    Promote {
        key: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Items most like a request that nobody has linked yet (nor rejected for it), best
    /// first, each with the words they share and a score.
    Suggestions {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(long, default_value_t = chorus_index::DEFAULT_SUGGESTIONS)]
        limit: usize,
        /// Also suggest items already linked to other requests.
        #[arg(long)]
        include_linked: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Accept a suggestion: link ITEM to REQ (provenance `suggestion`, never undone by a sync).
    Accept {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(value_name = "ITEM")]
        item: i64,
    },
    /// Reject a suggestion: ITEM is never suggested for REQ again (nor for a request REQ
    /// is merged into).
    Reject {
        #[arg(value_name = "REQ")]
        request: i64,
        #[arg(value_name = "ITEM")]
        item: i64,
    },
    /// The open requests ITEM most likely belongs to, best first, with the words they share.
    Likely {
        #[arg(value_name = "ITEM")]
        item: i64,
        #[arg(long, default_value_t = chorus_index::DEFAULT_SUGGESTIONS)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// `chorus accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Live accounts in id order.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Start after this account id.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One account: fields, health, risk flags, upsell signals and the records that formed it.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Merge account FROM into INTO: records, domains, contacts and items move.
    Merge { into: i64, from: i64 },
    /// Split source records off an account into a new one that stays apart.
    Split {
        id: i64,
        /// A source record to move, `CONNECTOR:EXTERNAL_ID` (repeatable).
        #[arg(long = "record", value_name = "CONNECTOR:ID", required = true)]
        records: Vec<String>,
    },
    /// Create or update accounts from JSON Lines (the export's shape) or CSV with a header.
    Import {
        /// File to read; `-` or absent for stdin.
        file: Option<PathBuf>,
        /// Input format; by default `.csv` files are CSV, anything else JSON Lines.
        #[arg(long, value_enum)]
        input: Option<AccountInput>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountInput {
    Jsonl,
    Csv,
}

/// `chorus link` arguments: exactly one target.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["account", "request"])))]
pub struct LinkArgs {
    /// The item's id.
    pub item: i64,
    /// Link it to this account.
    #[arg(long, value_name = "ID")]
    pub account: Option<i64>,
    /// Link it to this request.
    #[arg(long, value_name = "ID")]
    pub request: Option<i64>,
}
