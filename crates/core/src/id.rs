//! Identifiers are parsed once at the edge into newtypes, so the state machine
//! never sees a malformed one and a fund id can never be passed where a grant
//! id is expected. Entity ids are restricted to characters that are safe in a
//! NATS subject token, because funds and schemes appear in subjects.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} {text:?} is invalid: {rule}")]
pub struct IdError {
    pub kind: &'static str,
    pub text: String,
    pub rule: &'static str,
}

/// Entity ids: 1 to 64 characters of `a-z 0-9 _ -`, starting with a letter or digit.
pub const ENTITY_ID_LENGTH_MAX: usize = 64;
/// Event ids: 1 to 128 characters of `A-Z a-z 0-9 . _ : -` (UUIDs fit).
pub const EVENT_ID_LENGTH_MAX: usize = 128;

fn check_entity_id(kind: &'static str, text: &str) -> Result<(), IdError> {
    let fail = |rule| IdError { kind, text: text.to_string(), rule };
    if text.is_empty() || text.len() > ENTITY_ID_LENGTH_MAX {
        return Err(fail("must be 1 to 64 characters"));
    }
    let bytes = text.as_bytes();
    if !(bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit()) {
        return Err(fail("must start with a lowercase letter or a digit"));
    }
    if !bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        return Err(fail("may contain only lowercase letters, digits, '_' and '-'"));
    }
    Ok(())
}

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                check_entity_id($kind, text)?;
                Ok(Self(text.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_string()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                let mut schema = schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    ..Default::default()
                };
                schema.string().pattern = Some("^[a-z0-9][a-z0-9_-]{0,63}$".to_string());
                schema.metadata().description = Some(concat!("A ", $kind, ".").to_string());
                schema.into()
            }
        }
    };
}

entity_id!(/// The id of one ledger (one hash chain, one stream, one writer).
    LedgerId, "ledger id");
entity_id!(/// A fund of funds, e.g. the I&T Industry-Oriented Fund.
    FundId, "fund id");
entity_id!(/// A theme of a fund, e.g. `ai-robotics`.
    ThemeId, "theme id");
entity_id!(/// A sub-fund (a limited partnership run by a GP); unique across the ledger.
    SubFundId, "sub-fund id");
entity_id!(/// An investment by a sub-fund into an investee; unique across the ledger.
    InvestmentId, "investment id");
entity_id!(/// A matching-grant scheme, e.g. `nias`.
    SchemeId, "scheme id");
entity_id!(/// A grant (one approved project); unique across the ledger.
    GrantId, "grant id");
entity_id!(/// An enterprise (e.g. its business registration number).
    EnterpriseId, "enterprise id");
entity_id!(/// An eligibility attestation a scheme requires, e.g. `hk-production-line-1y`.
    AttestationCode, "attestation code");

/// The id an actor gives an event; it begins the JetStream `Nats-Msg-Id`
/// (`<event id>/<16 hex digits of the record hash>`, docs/FORMAT.md section 8);
/// it is the idempotency key: one id, one event, forever.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let fail = |rule| IdError { kind: "event id", text: text.to_string(), rule };
        if text.is_empty() || text.len() > EVENT_ID_LENGTH_MAX {
            return Err(fail("must be 1 to 128 characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) {
            return Err(fail("may contain only letters, digits, '.', '_', ':' and '-'"));
        }
        Ok(Self(text.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for EventId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::parse(text)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for EventId {
    fn schema_name() -> String {
        "EventId".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
        schema.string().pattern = Some("^[A-Za-z0-9._:-]{1,128}$".to_string());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_are_subject_safe() {
        assert!(FundId::parse("itf").is_ok());
        assert!(SchemeId::parse("nias-2025_a").is_ok());
        for bad in ["", "Itf", "a.b", "a*", "a>", "-a", "a b", &"x".repeat(65)] {
            assert!(FundId::parse(bad).is_err(), "{bad:?}");
        }
        let error = serde_json::from_str::<GrantId>("\"A.B\"").unwrap_err().to_string();
        assert!(error.contains("grant id"), "{error}");
    }

    #[test]
    fn event_ids_allow_uuids() {
        assert!(EventId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert!(EventId::parse("demo:grant:17").is_ok());
        assert!(EventId::parse("a b").is_err());
        assert!(EventId::parse("").is_err());
    }
}
