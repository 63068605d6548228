//! `subfund ...`: admission, commitments, calls, distributions, NAV,
//! investments, write-offs, fees and production spend of a sub-fund (and
//! `subfund show`, answered by the query API).

use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::time::Date;

use super::flag_values::{parse_money, parse_period, parse_text};
use super::signing::{record, SigningArgs};

#[derive(Subcommand, Debug)]
pub enum SubfundCommand {
    /// Admit a sub-fund (a Cap. 637 limited partnership run by a GP) to a fund under one of its themes.
    Admit(AdmitArgs),
    /// Record a market co-investor's commitment to a sub-fund.
    MarketCommit(MarketCommitArgs),
    /// Record the government's commitment to a sub-fund, as the last LP (at most the cap and share).
    GovernmentCommit(GovernmentCommitArgs),
    /// Record a capital call paid in by the government (a contribution to paid-in capital).
    Call(CallArgs),
    /// Record a distribution to the government; a recallable one restores unfunded commitment.
    Distribute(DistributeArgs),
    /// Report the NAV of the government's interest in a sub-fund, as of a date.
    Nav(NavArgs),
    /// Record an investment by a sub-fund into an enterprise.
    Invest(InvestArgs),
    /// Write off (part of) an investment.
    WriteOff(WriteOffArgs),
    /// Record a management fee paid from the government's commitment.
    Fee(FeeArgs),
    /// Report an investee's spend on a Hong Kong production base.
    ProductionSpend(ProductionSpendArgs),
    /// Show a sub-fund from the query API: commitments, government share, metrics, compliance, investments.
    Show(crate::query::ShowArgs),
}

#[derive(Args, Debug)]
pub struct AdmitArgs {
    /// The fund the sub-fund joins.
    #[arg(long, value_name = "ID")]
    pub fund: FundId,
    /// The new sub-fund's id, unique across the ledger (1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The sub-fund's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Text,
    /// One of the fund's theme ids (ITIF: life-health, ai-robotics, semiconductors, digitalisation, future-sustainable).
    #[arg(long, value_name = "ID")]
    pub theme: ThemeId,
    /// The general partner (fund manager) running the sub-fund.
    #[arg(long = "general-partner", visible_alias = "gp", value_name = "NAME", value_parser = parse_text)]
    pub general_partner: Text,
    /// The sub-fund's target size, in HK$ (ITIF: at least 2,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub target_size: Money,
    /// The sub-fund's investment period, START..END (e.g. 2026-01-01..2030-12-31): only production
    /// spend within it counts towards the HK production-base minimum, and every report of production
    /// spend must then say when it was spent (--spent-on).
    #[arg(long, value_name = "START..END", value_parser = parse_period)]
    pub investment_period: Option<Period>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct MarketCommitArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The market co-investor (limited partner) committing.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub investor: Text,
    /// The amount committed, in HK$ (e.g. 3,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct GovernmentCommitArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The amount the government commits, in HK$ (ITIF: at most 1,000,000,000 and 25% of the committed size).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The capital call's reference (e.g. the call notice number).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub reference: Text,
    /// The amount called from the government, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct DistributeArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The amount distributed to the government, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The distribution is recallable: it restores unfunded commitment.
    #[arg(long)]
    pub recallable: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct NavArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The date the NAV is reported as of, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Date,
    /// The net asset value of the government's interest, in HK$.
    #[arg(long, visible_alias = "nav", value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct InvestArgs {
    /// The investing sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The new investment's id, unique across the ledger (1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The enterprise invested in.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub investee: Text,
    /// The amount invested, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The investee is a Hong Kong enterprise, or has substantive operations in Hong Kong.
    #[arg(long)]
    pub hk_enterprise: bool,
    /// The investee is an I&T / new-industrialisation enterprise (required of every investment).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub innovation_technology: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct WriteOffArgs {
    /// The sub-fund holding the investment.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The investment written off.
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The amount written off, in HK$ (at most the investment's remaining cost).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct FeeArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The period the fee is for (e.g. 2026-Q1).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub period: Text,
    /// The fee, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct ProductionSpendArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The investment whose investee spent.
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The period of the spend (e.g. 2026-H1).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub period: Text,
    /// The amount spent on the Hong Kong production base, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// When it was spent (the last day of the period it covers); required when the sub-fund has an
    /// investment period, and only spend within that period counts towards the minimum.
    #[arg(long, value_name = "DATE")]
    pub spent_on: Option<Date>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn subfund(command: SubfundCommand) -> Result<()> {
    match command {
        SubfundCommand::Show(args) => crate::query::subfund_show(args).await,
        SubfundCommand::Admit(args) => {
            let data = SubFundAdmitted {
                fund: args.fund,
                subfund: args.subfund,
                name: args.name,
                theme: args.theme,
                general_partner: args.general_partner,
                target_size_cents: args.target_size,
                investment_period: args.investment_period,
            };
            record(&args.signing, Event::SubFundAdmitted(data)).await
        }
        SubfundCommand::MarketCommit(args) => {
            let data = MarketCommitted { subfund: args.subfund, investor: args.investor, amount_cents: args.amount };
            record(&args.signing, Event::MarketCommitted(data)).await
        }
        SubfundCommand::GovernmentCommit(args) => {
            let data = GovernmentCommitted { subfund: args.subfund, amount_cents: args.amount };
            record(&args.signing, Event::GovernmentCommitted(data)).await
        }
        SubfundCommand::Call(args) => {
            let data = CapitalCalled { subfund: args.subfund, reference: args.reference, amount_cents: args.amount };
            record(&args.signing, Event::CapitalCalled(data)).await
        }
        SubfundCommand::Distribute(args) => {
            let data = Distributed { subfund: args.subfund, amount_cents: args.amount, recallable: args.recallable };
            record(&args.signing, Event::Distributed(data)).await
        }
        SubfundCommand::Nav(args) => {
            let data = NavReported { subfund: args.subfund, as_of: args.as_of, nav_cents: args.amount };
            record(&args.signing, Event::NavReported(data)).await
        }
        SubfundCommand::Invest(args) => {
            let data = Invested {
                subfund: args.subfund,
                investment: args.investment,
                investee: args.investee,
                amount_cents: args.amount,
                hk_enterprise: args.hk_enterprise,
                innovation_technology: args.innovation_technology,
            };
            record(&args.signing, Event::Invested(data)).await
        }
        SubfundCommand::WriteOff(args) => {
            let data = WrittenOff { subfund: args.subfund, investment: args.investment, amount_cents: args.amount };
            record(&args.signing, Event::WrittenOff(data)).await
        }
        SubfundCommand::Fee(args) => {
            let data = FeeCharged { subfund: args.subfund, period: args.period, amount_cents: args.amount };
            record(&args.signing, Event::FeeCharged(data)).await
        }
        SubfundCommand::ProductionSpend(args) => {
            let data = ProductionSpendReported {
                subfund: args.subfund,
                investment: args.investment,
                period: args.period,
                amount_cents: args.amount,
                spent_on: args.spent_on,
            };
            record(&args.signing, Event::ProductionSpendReported(data)).await
        }
    }
}
