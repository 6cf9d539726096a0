//! `chorus`: the command-line face of Chorus.
//!
//! Thin by design: it parses arguments, starts the runtime, and hands over to
//! `chorus_cli::commands`. Every command exits 0 on success and non-zero with a
//! one-line reason on stderr otherwise.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = chorus_cli::cli::Cli::parse();
    chorus_cli::runtime::init_tracing(cli.verbose);
    let tokio = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chorus: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match tokio.block_on(chorus_cli::commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let reason = format!("{error:#}").replace('\n', " ");
            eprintln!("chorus: {reason}");
            std::process::ExitCode::FAILURE
        }
    }
}
