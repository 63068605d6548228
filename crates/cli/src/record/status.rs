//! `fundledger status`: where the ledger stands (size, head, root, readiness)
//! according to the writer's `GET /v1/status`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::wire::WriterStatus;

use crate::client;

/// How long `fundledger status` waits for the writer.
const STATUS_TIMEOUT_MS: u64 = 10_000;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The writer's HTTP address.
    #[arg(long, value_name = "URL", env = "FUNDLEDGER_WRITER", default_value = client::DEFAULT_WRITER_URL)]
    pub writer: String,
    /// Print the writer's status JSON as it sent it.
    #[arg(long)]
    pub json: bool,
}

pub async fn status(args: StatusArgs) -> Result<()> {
    let url = format!("{}/v1/status", args.writer.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_millis(STATUS_TIMEOUT_MS))
        .send()
        .await
        .with_context(|| format!("cannot reach the writer at {url}; start it with `fundledger serve` or pass --writer"))?;
    let code = response.status();
    let text = response.text().await.with_context(|| format!("reading the answer of {url}"))?;
    if !code.is_success() {
        bail!("{url} answered {code}: {}", text.chars().take(300).collect::<String>());
    }
    if args.json {
        println!("{text}");
        return Ok(());
    }
    let status: WriterStatus = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered with something that is not the writer's status: {}", text.chars().take(300).collect::<String>()))?;
    println!("ledger  {}", status.ledger);
    println!("size    {} records", status.size);
    println!("head    {}", status.head);
    println!("root    {}", status.root);
    println!("ready   {}", if status.ready { "yes" } else { "no (the writer is catching up or cannot reach NATS)" });
    if let Some(incident) = &status.incident {
        println!("incident {incident}");
    }
    println!("since start: {} appended, {} refused", status.appended_since_start, status.refused_since_start);
    Ok(())
}
