//! The query commands (`portfolio`, `subfund show`, `scheme show`, `grant
//! show`, `enterprise show`, `events`, `report`), which ask a running query
//! API (`--api` / FUNDLEDGER_API) and print tables for people or `--json` for
//! scripts; and the demo's portfolio, read from its local read models. The
//! projector and query API themselves run in `read_side.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fundledger_core::money::Money;
use fundledger_core::wire::Refusal;
use fundledger_projector::query::*;
use fundledger_projector::{Durability, Projector, ProjectorConfig, Store};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;

use crate::read_side::store_path;

/// The query API's default URL (`fundledger serve` listens on 127.0.0.1:7401).
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:7401";
/// How long to wait for the query API's answer.
pub const API_TIMEOUT_MS: u64 = 30_000;

// ---------------------------------------------------------------------------
// Query commands.

#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The query API's URL (`fundledger serve` serves it on 127.0.0.1:7401).
    #[arg(long, env = "FUNDLEDGER_API", default_value = DEFAULT_API_URL)]
    pub api: String,
    /// Answer as of this ledger sequence (a past position).
    #[arg(long, value_name = "SEQ")]
    pub as_of: Option<u64>,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    /// Sign in with this key file (a key registered on the ledger): read what its roles allow.
    /// Without it, a query API that asks readers to sign in answers the public aggregates only.
    #[arg(long, env = "FUNDLEDGER_READ_KEY", value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
}

/// The query API's answer to `POST /v1/sessions/challenge`.
#[derive(serde::Deserialize)]
struct Challenge {
    ledger: fundledger_core::id::LedgerId,
    challenge: String,
}

/// The query API's answer to `POST /v1/sessions`.
#[derive(serde::Deserialize)]
struct Session {
    token: String,
}

/// The URL of `path` on the query API.
fn url_of(args: &ApiArgs, path: &str) -> String {
    format!("{}{path}", args.api.trim_end_matches('/'))
}

/// Sends `request` and decodes the answer to `path`, or says `what` was
/// refused and why: the refusal's code and message when the API gave one.
async fn exchange<T: DeserializeOwned>(args: &ApiArgs, request: reqwest::RequestBuilder, path: &str, what: &str) -> Result<T> {
    let response = request.timeout(Duration::from_millis(API_TIMEOUT_MS)).send().await.with_context(|| {
        format!("cannot reach the query API at {}; start it with `fundledger serve` (it listens on 127.0.0.1:7401) or pass --api / FUNDLEDGER_API", args.api)
    })?;
    let status = response.status();
    let text = response.text().await.context("reading the query API's answer")?;
    if !status.is_success() {
        let refusal = serde_json::from_str::<Refusal>(&text).map(|refusal| refusal.error.to_string());
        bail!(
            "{what} {}",
            refusal.unwrap_or_else(|_| format!("refused with {status} and no error in the answer: {}", text.chars().take(300).collect::<String>()))
        );
    }
    serde_json::from_str(&text).with_context(|| format!("the query API's answer to {path} does not have the expected shape (is it another version?)"))
}

/// POSTs a JSON body for signing in and decodes the answer.
async fn post<T: DeserializeOwned>(client: &reqwest::Client, args: &ApiArgs, path: &str, body: serde_json::Value) -> Result<T> {
    exchange(args, client.post(url_of(args, path)).json(&body), path, "sign-in").await
}

/// Signs in with `--key`: asks a challenge, signs it (FORMAT.md 11.4) and returns the bearer token.
async fn sign_in(client: &reqwest::Client, args: &ApiArgs, path: &Path) -> Result<String> {
    let (secret, _) = crate::keyfile::read(path)?;
    let key = secret.key_id().to_string();
    let challenge: Challenge = post(client, args, "/v1/sessions/challenge", serde_json::json!({ "key": key })).await?;
    let bytes: [u8; fundledger_core::read_access::CHALLENGE_BYTES] = hex::decode(&challenge.challenge)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the query API's challenge is not 64 hex digits: {:?}", challenge.challenge))?;
    let signature = fundledger_core::read_access::sign_challenge(&secret, &challenge.ledger, &bytes);
    let body = serde_json::json!({ "key": key, "challenge": challenge.challenge, "signature": signature.to_string() });
    let session: Session = post(client, args, "/v1/sessions", body).await?;
    Ok(session.token)
}

/// What stays as it is in a path segment: RFC 3986's unreserved characters.
/// Everything else (`/`, `?`, `#`, `%`, spaces, any non-ASCII) is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `/v1/<collection>/<id>` with the id percent-encoded as one path segment, so
/// that no id can ask for another resource, add a query or cut the path.
fn item_path(collection: &str, id: &str) -> Result<String> {
    // `.` and `..` would be resolved as path steps even when encoded (%2E).
    if id.is_empty() || id == "." || id == ".." {
        bail!("{id:?} is not an id");
    }
    Ok(format!("/v1/{collection}/{}", utf8_percent_encode(id, PATH_SEGMENT)))
}

/// GETs `path` (with `as_of`) and decodes the answer, or explains the API's refusal.
async fn fetch<T: DeserializeOwned>(args: &ApiArgs, path: &str, mut params: Vec<(&str, String)>) -> Result<(Answer<T>, serde_json::Value)> {
    if let Some(as_of) = args.as_of {
        params.push(("as_of", as_of.to_string()));
    }
    let client = reqwest::Client::new();
    let mut request = client.get(url_of(args, path)).query(&params);
    if let Some(key) = &args.key {
        request = request.bearer_auth(sign_in(&client, args, key).await?);
    }
    let value: serde_json::Value = exchange(args, request, path, "query").await?;
    let answer = serde_json::from_value(value.clone())
        .with_context(|| format!("the query API's answer to {path} does not have the expected shape (is it another version?)"))?;
    Ok((answer, value))
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn money(amount: Money) -> String {
    amount.to_string()
}

fn header<T>(answer: &Answer<T>, what: &str) {
    let as_of = if answer.seq != answer.position { format!(" (as of record {}; the models are at {})", answer.seq, answer.position) } else { String::new() };
    println!("{what} — ledger {}, record {}{as_of}", answer.ledger, answer.seq);
}

fn figures_table(lines: &[(String, String, &Figures)]) {
    println!(
        "  {:<22} {:<28} {:>22} {:>22} {:>22} {:>22} {:>20} {:>6} {:>6} {:>6} {:>8}",
        "id", "name", "committed", "paid in", "distributed", "NAV", "uncalled", "DPI", "RVPI", "TVPI", "IRR"
    );
    for (key, name, figures) in lines {
        let name: String = name.chars().take(28).collect();
        println!(
            "  {:<22} {:<28} {:>22} {:>22} {:>22} {:>22} {:>20} {:>6} {:>6} {:>6} {:>8}",
            key,
            name,
            money(figures.committed_cents),
            money(figures.paid_in_cents),
            money(figures.distributed_cents),
            money(figures.nav_cents),
            money(figures.uncalled_cents),
            figures.multiples.dpi.display,
            figures.multiples.rvpi.display,
            figures.multiples.tvpi.display,
            figures.irr.display
        );
    }
}

#[derive(Args, Debug)]
pub struct PortfolioArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Show one fund in detail: by theme, by sub-fund and by GP.
    #[arg(long, value_name = "ID")]
    pub fund: Option<String>,
}

pub async fn portfolio(args: PortfolioArgs) -> Result<()> {
    if let Some(fund) = &args.fund {
        let (answer, value) = fetch::<FundView>(&args.api, &item_path("funds", fund)?, vec![]).await?;
        if args.api.json {
            return print_json(&value);
        }
        let view = &answer.data;
        header(&answer, &format!("Fund {} ({})", view.fund, view.name));
        print_fund_totals(&view.name, view.capital_cents, &view.totals);
        for (title, lines) in [("By theme", &view.by_theme), ("By sub-fund", &view.by_subfund), ("By GP", &view.by_gp)] {
            println!("\n{title}");
            figures_table(&lines.iter().map(|line| (line.key.clone(), line.name.clone(), &line.figures)).collect::<Vec<_>>());
        }
        return Ok(());
    }
    let (answer, value) = fetch::<Portfolio>(&args.api, "/v1/portfolio", vec![]).await?;
    if args.api.json {
        return print_json(&value);
    }
    header(&answer, "Portfolio");
    for fund in &answer.data.funds {
        println!();
        print_fund_totals(&format!("{} ({})", fund.name, fund.fund), fund.capital_cents, &fund.totals);
    }
    println!("\nMatching-grant schemes");
    print_schemes(&answer.data.schemes);
    Ok(())
}

fn print_fund_totals(name: &str, capital: Money, totals: &Figures) {
    println!("{name}: {} sub-funds, capital {}", totals.subfunds, money(capital));
    println!("  committed (government) {:>26}   market co-investment {:>26}", money(totals.committed_cents), money(totals.market_committed_cents));
    println!("  paid in (calls + fees) {:>26}   uncalled             {:>26}", money(totals.paid_in_cents), money(totals.uncalled_cents));
    println!("  distributed            {:>26}   of which recallable  {:>26}", money(totals.distributed_cents), money(totals.recallable_distributed_cents));
    println!("  latest NAV             {:>26}   invested             {:>26}", money(totals.nav_cents), money(totals.invested_cents));
    println!(
        "  DPI {}   RVPI {}   TVPI {}   IRR {} (from {} dated cash flows)",
        totals.multiples.dpi.display, totals.multiples.rvpi.display, totals.multiples.tvpi.display, totals.irr.display, totals.irr.cash_flows
    );
}

fn print_schemes(schemes: &[SchemeView]) {
    println!(
        "  {:<10} {:>24} {:>24} {:>24} {:>24} {:>8} {:>7} {:>11}",
        "scheme", "budget", "committed", "disbursed", "remaining", "used", "grants", "enterprises"
    );
    for scheme in schemes {
        println!(
            "  {:<10} {:>24} {:>24} {:>24} {:>24} {:>8} {:>7} {:>11}",
            scheme.scheme.as_str(),
            money(scheme.budget_cents),
            money(scheme.committed_cents),
            money(scheme.disbursed_cents),
            money(scheme.remaining_cents),
            scheme.utilisation.display,
            scheme.grant_count,
            scheme.enterprise_count
        );
    }
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The id to show.
    pub id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn met(compliance: &ComplianceView) -> &'static str {
    match compliance.met {
        Some(true) => "ok",
        Some(false) if compliance.bound == "max" => "ABOVE MAXIMUM",
        Some(false) => "below target",
        None => "n/a",
    }
}

pub async fn subfund_show(args: ShowArgs) -> Result<()> {
    let (answer, value) = fetch::<SubFundView>(&args.api, &item_path("subfunds", &args.id)?, vec![]).await?;
    if args.api.json {
        return print_json(&value);
    }
    let view = &answer.data;
    let model = &view.model;
    header(&answer, &format!("Sub-fund {} ({})", model.subfund, model.name));
    println!("  fund {}   theme {}   GP {}", model.fund, view.theme_name.as_deref().unwrap_or(model.theme.as_str()), model.general_partner);
    println!("  target size            {:>26}   committed size       {:>26}", money(model.target_size_cents), money(view.committed_size_cents));
    println!("  market commitments     {:>26}   ({} investors)", money(model.market_committed_cents), model.market_commitments);
    println!(
        "  government commitment  {:>26}   share {} (max {}.{:02}%) {}",
        money(model.government_committed_cents),
        view.government_share.share.display,
        view.government_share.bound_bps / 100,
        view.government_share.bound_bps % 100,
        met(&view.government_share)
    );
    println!("  called                 {:>26}   fees                 {:>26}", money(model.called_cents), money(model.fees_cents));
    println!("  paid in                {:>26}   uncalled             {:>26}", money(model.paid_in_cents), money(view.uncalled_cents));
    println!("  distributed            {:>26}   of which recallable  {:>26}", money(model.distributed_cents), money(model.recallable_distributed_cents));
    let nav = model.nav_cents.map(money).unwrap_or_else(|| "none".to_string());
    println!("  latest NAV             {:>26}   as of {}", nav, model.nav_as_of.as_ref().map(|date| date.to_string()).unwrap_or_else(|| "-".to_string()));
    let figures = &view.figures;
    println!(
        "  DPI {}   RVPI {}   TVPI {}   IRR {}",
        figures.multiples.dpi.display, figures.multiples.rvpi.display, figures.multiples.tvpi.display, figures.irr.display
    );
    println!(
        "  invested               {:>26}   in HK enterprises {} of size (target {}.{:02}%) {}",
        money(model.invested_cents),
        view.hk_enterprise_share.share.display,
        view.hk_enterprise_share.bound_bps / 100,
        view.hk_enterprise_share.bound_bps % 100,
        met(&view.hk_enterprise_share)
    );
    if let Some(period) = &model.investment_period {
        println!("  investment period      {period}   production spend within it {}", money(model.production_spend_in_period_cents));
    }
    if let Some(met) = view.committed_size_min_met {
        println!("  committed size reaches the fund's minimum sub-fund size: {}", if met { "yes" } else { "NO" });
    }
    println!(
        "  HK production spend    {:>26}   {} of size; target {} {}",
        money(model.production_spend_in_period_cents),
        view.hk_production_spend.share.display,
        money(view.hk_production_spend_target_cents),
        met(&view.hk_production_spend)
    );
    if !view.investments.is_empty() {
        println!("\n  {:<20} {:<30} {:>22} {:>22} {:>22} {:>4}", "investment", "investee", "cost", "written off", "production spend", "HK");
        for investment in &view.investments {
            let investee: String = investment.investee.as_str().chars().take(30).collect();
            println!(
                "  {:<20} {:<30} {:>22} {:>22} {:>22} {:>4}",
                investment.investment.as_str(),
                investee,
                money(investment.cost_cents),
                money(investment.written_off_cents),
                money(investment.production_spend_cents),
                if investment.hk_enterprise { "yes" } else { "no" }
            );
        }
    }
    Ok(())
}

fn print_standing(standing: &StandingView) {
    println!(
        "  {} in scheme {}: {} grants ({} open), committed {}, verified spend {}, disbursed {}, disbursable now {}",
        standing.enterprise,
        standing.scheme,
        standing.grant_count,
        standing.open_grant_count,
        money(standing.committed_cents),
        money(standing.verified_spend_cents),
        money(standing.disbursed_cents),
        money(standing.disbursable_now_cents)
    );
    let headroom = &standing.headroom;
    println!(
        "    headroom: enterprise cap {}, projects {}, concurrent {}, budget {}, next grant at most {}",
        headroom.enterprise_grant.map(money).unwrap_or_else(|| "no cap".to_string()),
        headroom.projects.map(|count| count.to_string()).unwrap_or_else(|| "no limit".to_string()),
        headroom.concurrent_projects.map(|count| count.to_string()).unwrap_or_else(|| "no limit".to_string()),
        money(headroom.scheme_budget),
        money(headroom.next_grant_max)
    );
    if headroom.group.len() > 1 {
        let group: Vec<&str> = headroom.group.iter().map(|member| member.as_str()).collect();
        println!("    counted with its associated enterprises: {}", group.join(", "));
    }
    for grant in &standing.grants {
        println!(
            "    {:<20} {:<10} grant {:>22}  verified {:>22}  disbursed {:>22}  disbursable {:>20}",
            grant.grant.as_str(),
            format!("{:?}", grant.status).to_lowercase(),
            money(grant.grant_cents),
            money(grant.verified_spend_cents),
            money(grant.net_disbursed_cents),
            money(grant.disbursable_now_cents)
        );
    }
}

pub async fn scheme_show(args: ShowArgs) -> Result<()> {
    let (answer, value) = fetch::<SchemeView>(&args.api, &item_path("schemes", &args.id)?, vec![]).await?;
    if args.api.json {
        return print_json(&value);
    }
    let view = &answer.data;
    header(&answer, &format!("Scheme {} ({})", view.scheme, view.name));
    println!("  ratio government {} : enterprise {}", view.terms.government_ratio, view.terms.enterprise_ratio);
    println!("  budget                 {:>26}   approved (gross)     {:>26}", money(view.budget_cents), money(view.approved_cents));
    println!(
        "  committed              {:>26}   remaining            {:>26}   ({} used)",
        money(view.committed_cents),
        money(view.remaining_cents),
        view.utilisation.display
    );
    println!("  disbursed (net)        {:>26}   clawed back          {:>26}", money(view.disbursed_cents), money(view.clawed_back_cents));
    println!("  grants {} ({} open), enterprises {}", view.grant_count, view.open_grant_count, view.enterprise_count);
    for amendment in &view.amendments {
        let top_up = amendment.budget_top_up_cents.map(|top_up| format!(" (budget +{})", money(top_up))).unwrap_or_default();
        println!("  amended from {}{top_up}: {}", amendment.effective_from, amendment.reason);
    }
    println!("\n  {:<24} {:>7} {:>22} {:>22} {:>22} {:>22}", "enterprise", "grants", "committed", "verified spend", "disbursed", "cap headroom");
    for standing in &view.enterprises {
        println!(
            "  {:<24} {:>7} {:>22} {:>22} {:>22} {:>22}",
            standing.enterprise.as_str(),
            standing.grant_count,
            money(standing.committed_cents),
            money(standing.verified_spend_cents),
            money(standing.disbursed_cents),
            standing.headroom.enterprise_grant.map(money).unwrap_or_else(|| "no cap".to_string())
        );
    }
    Ok(())
}

pub async fn grant_show(args: ShowArgs) -> Result<()> {
    let (answer, value) = fetch::<GrantView>(&args.api, &item_path("grants", &args.id)?, vec![]).await?;
    if args.api.json {
        return print_json(&value);
    }
    let view = &answer.data;
    let model = &view.model;
    header(&answer, &format!("Grant {} ({})", model.grant, model.project));
    println!(
        "  scheme {}   enterprise {} ({})   status {:?}{}",
        model.scheme,
        model.enterprise,
        model.enterprise_name,
        model.status,
        model.close_reason.map(|reason| format!(" ({reason:?})")).unwrap_or_default()
    );
    println!("  approved cost          {:>26}   grant                {:>26}", money(model.approved_cost_cents), money(model.grant_cents));
    let position = &view.position;
    println!("  verified spend         {:>26}   disallowed           {:>26}", money(model.verified_spend_cents), money(model.disallowed_spend_cents));
    println!("  net eligible spend     {:>26}   reimbursable         {:>26}", money(position.net_eligible_spend), money(position.reimbursable));
    if let Some(scheduled) = position.scheduled {
        println!("  milestones accepted    {:>26}   scheduled so far     {:>26}", model.milestones_accepted, money(scheduled));
    }
    println!("  payable at most now    {:>26}   disbursable now      {:>26}", money(position.ceiling), money(position.disbursable_now));
    println!("  disbursed (net)        {:>26}   overpaid             {:>26}", money(position.net_disbursed), money(position.overpaid));
    println!("  clawed back            {:>26}   of which forfeited   {:>26}", money(model.clawed_back_cents), money(position.forfeited));
    println!("  undisbursed            {:>26}", money(position.undisbursed));
    println!("\n  History ({} events)", view.history.len());
    for event in &view.history {
        println!("  {:>8}  {}  {:<26} {}  {}", event.seq, event.occurred_at, event.event_type, event.id, compact(&event.data));
    }
    Ok(())
}

fn compact(data: &serde_json::Value) -> String {
    let text = data.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(119).collect::<String>())
    } else {
        text
    }
}

/// `enterprise show`: an enterprise's standing in each scheme.
pub async fn enterprise_show(args: ShowArgs) -> Result<()> {
    let (answer, value) = fetch::<EnterpriseView>(&args.api, &item_path("enterprises", &args.id)?, vec![]).await?;
    if args.api.json {
        return print_json(&value);
    }
    header(&answer, &format!("Enterprise {} ({})", answer.data.enterprise, answer.data.name));
    for standing in &answer.data.schemes {
        print_standing(standing);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only this event (by its id).
    #[arg(long, value_name = "ID", conflicts_with_all = ["fund", "subfund", "scheme", "grant", "enterprise"])]
    pub id: Option<String>,
    /// Events of this fund and its sub-funds.
    #[arg(long, value_name = "ID")]
    pub fund: Option<String>,
    /// Events of this sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: Option<String>,
    /// Events of this scheme and its grants.
    #[arg(long, value_name = "ID")]
    pub scheme: Option<String>,
    /// Events of this grant.
    #[arg(long, value_name = "ID")]
    pub grant: Option<String>,
    /// Events of this enterprise's grants.
    #[arg(long, value_name = "ID")]
    pub enterprise: Option<String>,
    /// Only events after this sequence.
    #[arg(long, value_name = "SEQ")]
    pub after: Option<u64>,
    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub async fn events(args: EventsArgs) -> Result<()> {
    if let Some(id) = &args.id {
        let (answer, value) = fetch::<EventView>(&args.api, &item_path("events", id)?, vec![]).await?;
        if args.api.json {
            return print_json(&value);
        }
        header(&answer, &format!("Event {id}"));
        return print_json(&answer.data.record);
    }
    let mut params = vec![("limit", args.limit.to_string())];
    for (name, value) in [("fund", &args.fund), ("subfund", &args.subfund), ("scheme", &args.scheme), ("grant", &args.grant), ("enterprise", &args.enterprise)]
    {
        if let Some(value) = value {
            params.push((name, value.clone()));
        }
    }
    if let Some(after) = args.after {
        params.push(("after", after.to_string()));
    }
    let (answer, value) = fetch::<EventsPage>(&args.api, "/v1/events", params).await?;
    if args.api.json {
        return print_json(&value);
    }
    header(&answer, "Events");
    for event in &answer.data.events {
        println!("  {:>8}  {}  {:<34} {}  {}", event.seq, event.occurred_at, event.event_type, event.id, compact(&event.data));
    }
    if let Some(next) = answer.data.next_after {
        println!("  (more: --after {next})");
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The quarter, e.g. 2026Q1.
    #[arg(long)]
    pub quarter: String,
    /// CSV (one table per section, amounts in cents) or JSON.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The query API's URL.
    #[arg(long, env = "FUNDLEDGER_API", default_value = DEFAULT_API_URL)]
    pub api: String,
    /// Report as of this ledger sequence.
    #[arg(long, value_name = "SEQ")]
    pub as_of: Option<u64>,
    /// Sign in with this key file (the report needs the admin, auditor or reporting role).
    #[arg(long, env = "FUNDLEDGER_READ_KEY", value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
}

pub async fn report(args: ReportArgs) -> Result<()> {
    let api = ApiArgs { api: args.api.clone(), as_of: args.as_of, json: true, key: args.key.clone() };
    let (answer, value) = fetch::<QuarterlyReport>(&api, "/v1/reports/quarterly", vec![("quarter", args.quarter.clone())]).await?;
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&value)? + "\n",
        ReportFormat::Csv => report_csv(&answer.data),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote the {} report for {} ({} sub-funds, {} schemes; ledger {} as of record {}) to {}",
                match args.format {
                    ReportFormat::Csv => "CSV",
                    ReportFormat::Json => "JSON",
                },
                answer.data.quarter,
                answer.data.subfunds.len(),
                answer.data.schemes.len(),
                answer.ledger,
                answer.seq,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The end of `fundledger demo`: projects the recorded ledger into read models
/// and prints the portfolio as the query API would answer it.
pub async fn demo_portfolio(url: &str, ledger: &fundledger_core::id::LedgerId, data_dir: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let store = Arc::new(Store::open(&store_path(data_dir), ledger)?);
    let js = fundledger_nats::Broker::connect(url).await?;
    let mut projector = Projector::new(store.clone(), js, ProjectorConfig::new(ledger.clone()))?;
    let applied = projector.catch_up(None, Durability::Bulk).await.context("projecting the demo ledger")?;
    let elapsed = started.elapsed();
    let reader = store.reader()?;
    let query = Query::new(&reader, None)?;
    let portfolio = fundledger_projector::query::portfolio(&query)?;
    println!();
    println!("Read models: the projector applied {applied} records into RocksDB in {:.2} s (`fundledger serve` keeps them current; query with `fundledger portfolio`).", elapsed.as_secs_f64());
    for fund in &portfolio.funds {
        let totals = &fund.totals;
        println!(
            "  {}: paid in {} of {} committed, distributed {}, NAV {}; DPI {} RVPI {} TVPI {}, IRR {}",
            fund.fund,
            money(totals.paid_in_cents),
            money(totals.committed_cents),
            money(totals.distributed_cents),
            money(totals.nav_cents),
            totals.multiples.dpi.display,
            totals.multiples.rvpi.display,
            totals.multiples.tvpi.display,
            totals.irr.display
        );
    }
    for scheme in &portfolio.schemes {
        println!(
            "  {}: {} grants to {} enterprises, {} of budget committed, {} disbursed",
            scheme.scheme,
            scheme.grant_count,
            scheme.enterprise_count,
            scheme.utilisation.display,
            money(scheme.disbursed_cents)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_one_path_segment() {
        let path = item_path("grants", "../status?as_of=1#x y%2F/é").unwrap();
        assert_eq!(path, "/v1/grants/..%2Fstatus%3Fas_of%3D1%23x%20y%252F%2F%C3%A9");
        let url = reqwest::Url::parse(&format!("{}{path}", DEFAULT_API_URL)).unwrap();
        assert_eq!(url.path_segments().unwrap().collect::<Vec<_>>(), ["v1", "grants", "..%2Fstatus%3Fas_of%3D1%23x%20y%252F%2F%C3%A9"]);
        assert_eq!((url.query(), url.fragment()), (None, None));
        assert_eq!(item_path("events", "evt-0a.b_c~d").unwrap(), "/v1/events/evt-0a.b_c~d");
        for step in ["", ".", ".."] {
            assert!(item_path("funds", step).is_err(), "{step:?}");
        }
    }
}
