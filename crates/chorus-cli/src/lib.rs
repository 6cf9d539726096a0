//! The `chorus` binary's library half: argument parsing, the connector registry, and
//! one module per subcommand. `main.rs` only starts the runtime and reports errors;
//! keeping the rest here lets tests reach the registry and the schema generator.

pub mod cli;
pub mod commands;
pub mod registry;
pub mod runtime;
pub mod schemas;
