//! `fundledger`: the command line for fund managers, grant officers and
//! auditors, and the way to run the services. A thin shell: every rule lives
//! in `fundledger-core`, every append goes through the writer.

mod audit;
mod bench;
mod client;
mod config;
mod demo;
mod http_args;
mod keyfile;
mod nats_args;
mod query;
mod read_side;
mod rebuild;
mod record;
mod rollback;
mod serve;
mod shutdown;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The services allocate and free many small buffers per event (records,
/// ids, headers, acknowledgements) across threads; mimalloc does that with
/// less contention than the system allocator (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A verifiable ledger for public innovation funding: the I&T
/// Industry-Oriented Fund and matching-grant schemes. Every event is signed
/// with ed25519, chained with SHA-256 and appended to NATS JetStream.
///
/// Quick start: `fundledger demo` records a realistic scenario on an embedded
/// NATS server. To record events yourself: `fundledger serve` in one
/// terminal, then `fundledger keygen`, `fundledger init`, and one command per
/// event kind (`fundledger grant approve --help`).
///
/// Output into a pipe that closes early (`fundledger events --json | head -1`)
/// ends the command quietly, as SIGPIPE ends other Unix tools (a shell shows
/// exit status 141); only `serve` keeps running and reports the failed write.
#[derive(Parser)]
#[command(name = "fundledger", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// More log output (-v info, -vv debug). Logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Log format: `text` for people, `json` (one object per line, with the
    /// event's fields) for log collectors. The filter is FUNDLEDGER_LOG
    /// (tracing's EnvFilter syntax, e.g. `info,fundledger_writer=debug`).
    #[arg(long, env = "FUNDLEDGER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an ed25519 key file (the secret stays on this machine).
    Keygen(record::keys::KeygenArgs),
    /// Create a ledger: its genesis event, signed by the operator key.
    Init(record::keys::InitArgs),
    /// Register or revoke keys.
    #[command(subcommand)]
    Key(record::keys::KeyCommand),
    /// Grant or revoke roles (admin, fund_manager, grant_officer) for a scope.
    #[command(subcommand)]
    Role(record::keys::RoleCommand),
    /// Establish a fund of funds (e.g. the I&T Industry-Oriented Fund).
    #[command(subcommand)]
    Fund(record::fund::FundCommand),
    /// Record sub-fund events: admission, commitments, calls, distributions, NAV, investments, fees.
    #[command(subcommand)]
    Subfund(record::subfund::SubfundCommand),
    /// Establish a matching-grant scheme (Pilot, NIFS, NIAS, or your own terms).
    #[command(subcommand)]
    Scheme(record::scheme::SchemeCommand),
    /// Record grant events: approval, verified spend, completion, disbursement, clawback, closure.
    #[command(subcommand)]
    Grant(record::grant::GrantCommand),
    /// Submit raw signed event JSON (one submission or an array) from a file or stdin.
    Submit(record::submit::SubmitArgs),
    /// Sign an event body JSON locally and print the submission (for offline signing).
    Sign(record::sign::SignArgs),
    /// Show where the ledger stands (size, head, root) according to the writer.
    Status(record::status::StatusArgs),
    /// Run the services: the writer (HTTP and NATS), the projector and the query API, on an embedded
    /// NATS server unless --nats is given.
    Serve(serve::ServeArgs),
    /// Drop the read models and rebuild them from the ledger stream (stop `fundledger serve` first).
    Rebuild(rebuild::RebuildArgs),
    /// After a ledger rollback (the stream lost or changed records the writer acknowledged; the writer
    /// refuses to append): show what was lost, and with --lose COUNT let the writer and the read models
    /// start again from the stream as it is (stop `fundledger serve` first).
    AcceptRollback(rollback::AcceptRollbackArgs),
    /// Every fund's totals (committed, paid in, distributed, NAV, DPI/RVPI/TVPI, IRR) and every scheme, from the query API.
    Portfolio(query::PortfolioArgs),
    /// Show an enterprise's standing in each scheme, from the query API.
    #[command(subcommand)]
    Enterprise(record::enterprise::EnterpriseCommand),
    /// List events by fund, sub-fund, scheme, grant or enterprise, or one by id, from the query API.
    Events(query::EventsArgs),
    /// Write the quarterly report (commitments, calls, distributions, NAV, grant utilisation) as CSV or JSON.
    Report(query::ReportArgs),
    /// Record a realistic, deterministic scenario through the real writer and summarise it.
    Demo(demo::DemoArgs),
    /// Benchmarks, each measured beside its baseline in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Verify a ledger (from JetStream or an audit bundle): every record hash, chain link, signature,
    /// key authorisation, business rule, event id and signed checkpoint. Names the first bad record.
    Verify(audit::VerifyArgs),
    /// Write an offline audit bundle (records, checkpoints, witness statements, keys), verifying it on the way.
    Export(audit::ExportArgs),
    /// Print an inclusion proof of one event's record against the newest checkpoint covering it.
    Prove(audit::ProveArgs),
    /// Check an inclusion proof file offline.
    VerifyProof(audit::VerifyProofArgs),
    /// Verify the ledger, then co-sign its newest checkpoint with an auditor's key and publish it.
    Witness(audit::WitnessArgs),
    /// Follow a ledger's records as they are appended; with --verify, check each one and stop loudly on a gap or fork.
    Tail(audit::TailArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info,fundledger=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FUNDLEDGER_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

/// Restores SIGPIPE's default action (the Rust runtime ignores it), so that
/// printing into a closed pipe ends the process as it ends `cat` or `grep`,
/// instead of `println!` panicking on EPIPE. Not for `serve`: a service must
/// not die of a closed log pipe.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler
    // and touches no memory; it is done before any thread writes output.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    // `--config FILE` fills options' FUNDLEDGER_* variables before clap reads them (see config.rs).
    if let Err(error) = config::apply(&<Cli as clap::CommandFactory>::command(), &std::env::args_os().collect::<Vec<_>>()) {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_closed_pipe();
    }
    init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Keygen(args) => record::keys::keygen(args),
            Command::Init(args) => record::keys::init(args).await,
            Command::Key(command) => record::keys::key(command).await,
            Command::Role(command) => record::keys::role(command).await,
            Command::Fund(command) => record::fund::fund(command).await,
            Command::Subfund(command) => record::subfund::subfund(command).await,
            Command::Scheme(command) => record::scheme::scheme(command).await,
            Command::Grant(command) => record::grant::grant(command).await,
            Command::Submit(args) => record::submit::submit(args).await,
            Command::Sign(args) => record::sign::sign(args),
            Command::Status(args) => record::status::status(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Rebuild(args) => rebuild::rebuild(args).await,
            Command::AcceptRollback(args) => rollback::run(args).await,
            Command::Portfolio(args) => query::portfolio(args).await,
            Command::Enterprise(command) => record::enterprise::enterprise(command).await,
            Command::Events(args) => query::events(args).await,
            Command::Report(args) => query::report(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(command) => bench::run(command).await,
            Command::Verify(args) => audit::verify(args).await,
            Command::Export(args) => audit::export(args).await,
            Command::Prove(args) => audit::prove(args).await,
            Command::VerifyProof(args) => audit::verify_proof_command(args),
            Command::Witness(args) => audit::witness(args).await,
            Command::Tail(args) => audit::tail(args).await,
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
