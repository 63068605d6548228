//! Submitting signed events to a running writer, over HTTP (default) or NATS
//! request/reply, and turning its answers into output for people or scripts.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use fundledger_core::wire::{ErrorBody, EventAnswer, SubmitAnswer};

/// How long to wait for the writer's answer.
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;
/// The writer's default HTTP address (`fundledger serve`).
pub const DEFAULT_WRITER_URL: &str = "http://127.0.0.1:7400";

#[derive(Args, Clone, Debug)]
pub struct WriterArgs {
    /// The writer's HTTP address.
    #[arg(long, env = "FUNDLEDGER_WRITER", default_value = DEFAULT_WRITER_URL, global = true)]
    pub writer: String,
    /// Submit over NATS request/reply to this server instead of HTTP.
    #[arg(long = "via-nats", env = "FUNDLEDGER_VIA_NATS", global = true)]
    pub via_nats: Option<String>,
}

/// The writer's answer: as it sent it (for `--json`) and typed.
pub struct Sent {
    pub text: String,
    pub answer: SubmitAnswer,
}

/// Sends one request body (a submission or an array of them) and returns the
/// writer's answer.
pub async fn send(args: &WriterArgs, ledger: &str, request: Vec<u8>) -> Result<Sent> {
    let (text, status) = if let Some(url) = &args.via_nats {
        let broker = fundledger_nats::Broker::connect(url).await?;
        let subject = fundledger_nats::request_subject(ledger)?;
        let reply = broker
            .request(subject.clone(), request, Duration::from_millis(REQUEST_TIMEOUT_MS))
            .await
            .with_context(|| format!("no answer on {subject} within {REQUEST_TIMEOUT_MS} ms; is `fundledger serve` running for ledger {ledger}?"))?;
        (String::from_utf8_lossy(&reply).into_owned(), "over NATS".to_string())
    } else {
        let url = format!("{}/v1/events", args.writer.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .body(request)
            .send()
            .await
            .with_context(|| format!("cannot reach the writer at {url}; start it with `fundledger serve` or pass --writer"))?;
        let status = response.status().to_string();
        (response.text().await.context("reading the writer's answer")?, status)
    };
    let answer = serde_json::from_str(&text).with_context(|| {
        format!("the writer answered {status} with something that is not one of its answers: {}", text.chars().take(300).collect::<String>())
    })?;
    Ok(Sent { text, answer })
}

impl Sent {
    /// The answer to a single submission (or to a request refused whole).
    pub fn single(&self) -> Result<&EventAnswer> {
        match &self.answer {
            SubmitAnswer::Event(answer) => Ok(answer),
            SubmitAnswer::Batch(_) => {
                anyhow::bail!("the writer answered one submission with a batch answer: {}", self.text.chars().take(300).collect::<String>())
            }
        }
    }
}

/// `refused [code]: message`, or what the answer lacked.
pub fn describe_error(error: Option<&ErrorBody>) -> String {
    error.map_or_else(|| "refused with no error in the answer".to_string(), ErrorBody::to_string)
}
