//! `fundledger status`: where the ledger stands (size, head, root, readiness)
//! according to the writer's `GET /v1/status`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

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
    let status: Value = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered with something that is not JSON: {}", text.chars().take(300).collect::<String>()))?;
    if args.json {
        println!("{status}");
        return Ok(());
    }
    let field = |name: &str| status.get(name).map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_string)).unwrap_or_else(|| "?".to_string());
    let ready = status.get("ready").and_then(Value::as_bool);
    println!("ledger  {}", field("ledger"));
    println!("size    {} records", field("size"));
    println!("head    {}", field("head"));
    println!("root    {}", field("root"));
    println!(
        "ready   {}",
        match ready {
            Some(true) => "yes",
            Some(false) => "no (the writer is catching up or cannot reach NATS)",
            None => "?",
        }
    );
    if let (Some(appended), Some(refused)) = (status.get("appended_since_start"), status.get("refused_since_start")) {
        println!("since start: {appended} appended, {refused} refused");
    }
    Ok(())
}
