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
    Search(SearchArgs),
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

/// `chorus search` arguments: the query, filters, order and output.
#[derive(Debug, Args)]
pub struct SearchArgs {
    pub query: String,
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<chorus_core::Kind>,
    #[arg(long, value_name = "SOURCE")]
    pub source: Vec<chorus_core::Source>,
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    #[arg(long, value_name = "SEGMENT")]
    pub segment: Vec<String>,
    #[arg(long = "stage", value_name = "STAGE")]
    pub lifecycle_stage: Vec<chorus_core::LifecycleStage>,
    #[arg(long = "account", value_name = "ID")]
    pub account_id: Vec<i64>,
    /// Only items linked to a request (`--linked true`) or not linked (`--linked false`).
    #[arg(long)]
    pub linked: Option<bool>,
    #[arg(long, value_enum, default_value_t = SortBy::Weighted)]
    pub sort: SortBy,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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
