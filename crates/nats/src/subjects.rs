//! The ledger's subject taxonomy and stream names.
//!
//! Why fixed, validated names: subscribers filter the ledger by subject
//! (`fl.hk.ev.scheme.nias.>` for one scheme, `fl.hk.ev.*.*.grant.disbursed`
//! for one event type), so every event must land on a subject built the same
//! way, and no id may smuggle in a `.`, `*` or `>` that would change what a
//! filter matches.

use std::fmt;

use crate::error::NatsError;

/// Longest ledger, fund, scheme or auditor-key-prefix id.
pub const ID_LENGTH_MAX: usize = 64;
/// Longest token of an event type.
pub const EVENT_TYPE_TOKEN_LENGTH_MAX: usize = 64;
/// Prefix of every subject the ledger uses.
pub const SUBJECT_ROOT: &str = "fl";
/// Prefix of every ledger stream's name.
pub const STREAM_NAME_PREFIX: &str = "FUNDLEDGER_";
/// Suffix of the checkpoint stream's name.
pub const CHECKPOINT_STREAM_SUFFIX: &str = "_CHECKPOINTS";

/// What an event is about: the ledger as a whole, one fund or one scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// A ledger-level event; its scope id is the ledger id.
    Ledger,
    /// An event about one fund.
    Fund,
    /// An event about one scheme.
    Scheme,
}

impl ScopeKind {
    /// The subject token: `ledger`, `fund` or `scheme`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Ledger => "ledger",
            ScopeKind::Fund => "fund",
            ScopeKind::Scheme => "scheme",
        }
    }

    /// Parses a subject token.
    pub fn parse(token: &str) -> Option<ScopeKind> {
        match token {
            "ledger" => Some(ScopeKind::Ledger),
            "fund" => Some(ScopeKind::Fund),
            "scheme" => Some(ScopeKind::Scheme),
            _ => None,
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a ledger, fund, scheme or key-prefix id: `[a-z0-9][a-z0-9_-]{0,63}`.
/// `kind` names the id in the error.
pub fn validate_id(kind: &'static str, value: &str) -> Result<(), NatsError> {
    let bytes = value.as_bytes();
    let valid = match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= ID_LENGTH_MAX
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(NatsError::InvalidId { kind, value: value.to_string() })
    }
}

/// Checks an event type: two tokens `[a-z][a-z0-9_]{0,63}` joined by a dot,
/// such as `grant.disbursed`.
pub fn validate_event_type(value: &str) -> Result<(), NatsError> {
    let token_ok = |token: &str| {
        let bytes = token.as_bytes();
        match bytes.split_first() {
            Some((first, rest)) => {
                bytes.len() <= EVENT_TYPE_TOKEN_LENGTH_MAX
                    && first.is_ascii_lowercase()
                    && rest.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            }
            None => false,
        }
    };
    let mut tokens = value.split('.');
    let valid = matches!(
        (tokens.next(), tokens.next(), tokens.next()),
        (Some(a), Some(b), None) if token_ok(a) && token_ok(b)
    );
    if valid {
        Ok(())
    } else {
        Err(NatsError::InvalidEventType { value: value.to_string() })
    }
}

/// `fl.<ledger>.ev.<scope_kind>.<scope_id>.<event_type>`, e.g.
/// `fl.hk.ev.scheme.nias.grant.disbursed`. For ledger-level events the scope
/// id is the ledger id.
pub fn event_subject(ledger: &str, scope_kind: ScopeKind, scope_id: &str, event_type: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    validate_id(scope_kind.as_str(), scope_id)?;
    validate_event_type(event_type)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.ev.{}.{scope_id}.{event_type}", scope_kind.as_str()))
}

/// The parts of an event subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubject {
    /// The ledger id.
    pub ledger: String,
    /// What the event is about.
    pub scope_kind: ScopeKind,
    /// The fund, scheme or (for ledger-level events) ledger id.
    pub scope_id: String,
    /// The two-token event type.
    pub event_type: String,
}

/// Splits an event subject built by [`event_subject`]; `None` if it is not one.
pub fn parse_event_subject(subject: &str) -> Option<EventSubject> {
    let mut tokens = subject.split('.');
    let root = tokens.next()?;
    let ledger = tokens.next()?;
    let ev = tokens.next()?;
    let scope_kind = ScopeKind::parse(tokens.next()?)?;
    let scope_id = tokens.next()?;
    let first = tokens.next()?;
    let second = tokens.next()?;
    if tokens.next().is_some() || root != SUBJECT_ROOT || ev != "ev" {
        return None;
    }
    let event_type = format!("{first}.{second}");
    validate_id("ledger", ledger).ok()?;
    validate_id(scope_kind.as_str(), scope_id).ok()?;
    validate_event_type(&event_type).ok()?;
    Some(EventSubject { ledger: ledger.to_string(), scope_kind, scope_id: scope_id.to_string(), event_type })
}

/// `fl.<ledger>.ev.>`: every event of the ledger.
pub fn ledger_events_filter(ledger: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.ev.>"))
}

/// `fl.<ledger>.ev.<scope_kind>.<scope_id>.>`: every event of one fund or scheme.
pub fn scope_events_filter(ledger: &str, scope_kind: ScopeKind, scope_id: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    validate_id(scope_kind.as_str(), scope_id)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.ev.{}.{scope_id}.>", scope_kind.as_str()))
}

/// `fl.<ledger>.ev.*.*.<event_type>`: every event of one type.
pub fn event_type_filter(ledger: &str, event_type: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    validate_event_type(event_type)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.ev.*.*.{event_type}"))
}

/// `fl.<ledger>.checkpoint`: signed checkpoints (tree heads) of the ledger.
pub fn checkpoint_subject(ledger: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.checkpoint"))
}

/// `fl.<ledger>.witness.<auditor_key_prefix>`: an auditor's co-signatures.
pub fn witness_subject(ledger: &str, auditor_key_prefix: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    validate_id("auditor key prefix", auditor_key_prefix)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.witness.{auditor_key_prefix}"))
}

/// `fl.<ledger>.witness.*`: every auditor's co-signatures.
pub fn witness_filter(ledger: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.witness.*"))
}

/// `fl.<ledger>.submit`: request/reply subject on which the writer takes submissions.
pub fn request_subject(ledger: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    Ok(format!("{SUBJECT_ROOT}.{ledger}.submit"))
}

/// `FUNDLEDGER_<LEDGER>` with the id uppercased and `-` turned into `_`.
pub fn stream_name(ledger: &str) -> Result<String, NatsError> {
    validate_id("ledger", ledger)?;
    Ok(format!("{STREAM_NAME_PREFIX}{}", ledger.to_ascii_uppercase().replace('-', "_")))
}

/// `FUNDLEDGER_<LEDGER>_CHECKPOINTS`: checkpoints and witness co-signatures.
pub fn checkpoint_stream_name(ledger: &str) -> Result<String, NatsError> {
    Ok(format!("{}{CHECKPOINT_STREAM_SUFFIX}", stream_name(ledger)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_pattern() {
        for ok in ["hk", "0", "a-b_c", "nias", &"a".repeat(64)] {
            assert!(validate_id("ledger", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "_a", "A", "a.b", "a*", "a>", "a b", "é", &"a".repeat(65)] {
            assert!(validate_id("ledger", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_types_are_two_lowercase_tokens() {
        for ok in ["grant.disbursed", "fund.created", "a1.b_2"] {
            assert!(validate_event_type(ok).is_ok(), "{ok}");
        }
        for bad in ["", "grant", "grant.", ".grant", "a.b.c", "Grant.disbursed", "1a.b", "a-b.c", "a.*", "a.>"] {
            assert!(validate_event_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_subjects_have_the_documented_shape() {
        let subject = event_subject("hk", ScopeKind::Scheme, "nias", "grant.disbursed");
        assert_eq!(subject.ok().as_deref(), Some("fl.hk.ev.scheme.nias.grant.disbursed"));
        let subject = event_subject("hk", ScopeKind::Ledger, "hk", "ledger.opened");
        assert_eq!(subject.ok().as_deref(), Some("fl.hk.ev.ledger.hk.ledger.opened"));
        assert!(event_subject("hk", ScopeKind::Fund, "a.b", "grant.disbursed").is_err());
        assert!(event_subject("hk", ScopeKind::Fund, "f1", "grant").is_err());
        assert!(event_subject("H K", ScopeKind::Fund, "f1", "grant.disbursed").is_err());
    }

    #[test]
    fn event_subjects_round_trip() {
        let subject = "fl.hk.ev.fund.f-1.grant.disbursed";
        let parsed = parse_event_subject(subject);
        assert_eq!(
            parsed,
            Some(EventSubject { ledger: "hk".into(), scope_kind: ScopeKind::Fund, scope_id: "f-1".into(), event_type: "grant.disbursed".into() })
        );
        assert_eq!(parse_event_subject("fl.hk.ev.team.x.grant.disbursed"), None);
        assert_eq!(parse_event_subject("fl.hk.ev.fund.x.grant"), None);
        assert_eq!(parse_event_subject("fl.hk.ev.fund.x.grant.disbursed.extra"), None);
        assert_eq!(parse_event_subject("xx.hk.ev.fund.x.grant.disbursed"), None);
    }

    #[test]
    fn filters_and_other_subjects() {
        assert_eq!(ledger_events_filter("hk").ok().as_deref(), Some("fl.hk.ev.>"));
        assert_eq!(scope_events_filter("hk", ScopeKind::Scheme, "nias").ok().as_deref(), Some("fl.hk.ev.scheme.nias.>"));
        assert_eq!(event_type_filter("hk", "grant.disbursed").ok().as_deref(), Some("fl.hk.ev.*.*.grant.disbursed"));
        assert_eq!(checkpoint_subject("hk").ok().as_deref(), Some("fl.hk.checkpoint"));
        assert_eq!(witness_subject("hk", "ab12cd").ok().as_deref(), Some("fl.hk.witness.ab12cd"));
        assert!(witness_subject("hk", "AB12").is_err());
        assert_eq!(witness_filter("hk").ok().as_deref(), Some("fl.hk.witness.*"));
        assert_eq!(request_subject("hk").ok().as_deref(), Some("fl.hk.submit"));
        assert!(request_subject("").is_err());
    }

    #[test]
    fn stream_names_are_uppercased_with_underscores() {
        assert_eq!(stream_name("hk").ok().as_deref(), Some("FUNDLEDGER_HK"));
        assert_eq!(stream_name("hk-gov_2").ok().as_deref(), Some("FUNDLEDGER_HK_GOV_2"));
        assert_eq!(checkpoint_stream_name("hk-gov").ok().as_deref(), Some("FUNDLEDGER_HK_GOV_CHECKPOINTS"));
        assert!(stream_name("hk.gov").is_err());
    }
}
