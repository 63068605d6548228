//! `fundledger`: the command line for fund managers, grant officers and
//! auditors, and the way to run the services. A thin shell: every rule lives
//! in `fundledger-core`, every append goes through the writer.

mod bench;
mod client;
mod demo;
mod keyfile;
mod record;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A verifiable ledger for public innovation funding: the I&T
/// Industry-Oriented Fund and matching-grant schemes. Every event is signed
/// with ed25519, chained with SHA-256 and appended to NATS JetStream.
///
/// Quick start: `fundledger demo` records a realistic scenario on an embedded
/// NATS server. To record events yourself: `fundledger serve` in one
/// terminal, then `fundledger keygen`, `fundledger init`, and one command per
/// event kind (`fundledger grant approve --help`).
#[derive(Parser)]
#[command(name = "fundledger", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// More log output (-v info, -vv debug). Logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an ed25519 key file (the secret stays on this machine).
    Keygen(record::KeygenArgs),
    /// Create a ledger: its genesis event, signed by the operator key.
    Init(record::InitArgs),
    /// Register or revoke keys.
    #[command(subcommand)]
    Key(record::KeyCommand),
    /// Grant or revoke roles (admin, fund_manager, grant_officer) for a scope.
    #[command(subcommand)]
    Role(record::RoleCommand),
    /// Establish a fund of funds (e.g. the I&T Industry-Oriented Fund).
    #[command(subcommand)]
    Fund(record::FundCommand),
    /// Record sub-fund events: admission, commitments, calls, distributions, NAV, investments, fees.
    #[command(subcommand)]
    Subfund(record::SubfundCommand),
    /// Establish a matching-grant scheme (Pilot, NIFS, NIAS, or your own terms).
    #[command(subcommand)]
    Scheme(record::SchemeCommand),
    /// Record grant events: approval, verified spend, completion, disbursement, clawback, closure.
    #[command(subcommand)]
    Grant(record::GrantCommand),
    /// Submit raw signed event JSON (one submission or an array) from a file or stdin.
    Submit(record::SubmitArgs),
    /// Sign an event body JSON locally and print the submission (for offline signing).
    Sign(record::SignArgs),
    /// Show where the ledger stands (size, head, root) according to the writer.
    Status(record::StatusArgs),
    /// Run the services: the writer (HTTP and NATS), on an embedded NATS server unless --nats is given.
    Serve(serve::ServeArgs),
    /// Record a realistic, deterministic scenario through the real writer and summarise it.
    Demo(demo::DemoArgs),
    /// Benchmarks, each measured beside its baseline in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,fundledger=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FUNDLEDGER_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Keygen(args) => record::keygen(args),
            Command::Init(args) => record::init(args).await,
            Command::Key(command) => record::key(command).await,
            Command::Role(command) => record::role(command).await,
            Command::Fund(command) => record::fund(command).await,
            Command::Subfund(command) => record::subfund(command).await,
            Command::Scheme(command) => record::scheme(command).await,
            Command::Grant(command) => record::grant(command).await,
            Command::Submit(args) => record::submit(args).await,
            Command::Sign(args) => record::sign(args),
            Command::Status(args) => record::status(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(command) => bench::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
