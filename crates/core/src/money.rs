//! Money is Hong Kong dollars held as integer cents. There is no floating
//! point anywhere on a money path: amounts are parsed from decimal text
//! exactly, every sum is checked, and overflow is an error rather than a wrap.
//!
//! On the wire an amount is a JSON integer of cents. It is bounded by
//! [`Money::MAX`] (2^53 - 1 cents, about HK$90 trillion) so that every
//! JSON implementation, including JavaScript's, reads it exactly and the
//! RFC 8785 canonical form is the plain decimal integer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// An amount of Hong Kong dollars in cents, never negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u64);

/// Why an amount could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("amount {text:?} is not a valid HK$ amount: {reason}")]
    Parse { text: String, reason: &'static str },
    #[error("amount of {cents} cents exceeds the largest representable amount ({max} cents)")]
    TooLarge { cents: u128, max: u64 },
    #[error("amount arithmetic overflowed")]
    Overflow,
    #[error("amount {minuend} is smaller than {subtrahend}")]
    Underflow { minuend: Money, subtrahend: Money },
}

impl Money {
    /// The largest amount: 2^53 - 1 cents, exactly representable in every JSON reader.
    pub const MAX: Money = Money((1 << 53) - 1);
    pub const ZERO: Money = Money(0);

    /// Builds an amount from cents; fails above [`Money::MAX`].
    pub const fn from_cents(cents: u64) -> Result<Money, MoneyError> {
        if cents > Self::MAX.0 {
            return Err(MoneyError::TooLarge { cents: cents as u128, max: Self::MAX.0 });
        }
        Ok(Money(cents))
    }

    /// Builds an amount from whole dollars; fails above [`Money::MAX`].
    pub const fn from_dollars(dollars: u64) -> Result<Money, MoneyError> {
        match dollars.checked_mul(100) {
            Some(cents) => Self::from_cents(cents),
            None => Err(MoneyError::TooLarge { cents: dollars as u128 * 100, max: Self::MAX.0 }),
        }
    }

    /// Whole dollars for constants written in code; panics if out of range,
    /// which can only be a programming error in a literal.
    pub const fn hkd(dollars: u64) -> Money {
        match dollars.checked_mul(100) {
            Some(cents) if cents <= Self::MAX.0 => Money(cents),
            _ => panic!("HK$ constant out of range"),
        }
    }

    pub const fn cents(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let sum = self.0.checked_add(other.0).ok_or(MoneyError::Overflow)?;
        Money::from_cents(sum)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_sub(other.0).map(Money).ok_or(MoneyError::Underflow { minuend: self, subtrahend: other })
    }

    /// `self - other`, or zero when `other` is larger.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// `self * numerator / denominator`, rounded down, computed exactly in 128 bits.
    pub fn mul_div_floor(self, numerator: u64, denominator: u64) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::Overflow);
        }
        let cents = self.0 as u128 * numerator as u128 / denominator as u128;
        if cents > Self::MAX.0 as u128 {
            return Err(MoneyError::TooLarge { cents, max: Self::MAX.0 });
        }
        Ok(Money(cents as u64))
    }

    /// Parses a human-written amount of dollars: `250000`, `250,000`, `250000.5`,
    /// `250,000.00`, optionally prefixed with `HK$`. Commas must group thousands
    /// exactly; at most two decimal places; no sign, exponent or spaces.
    pub fn parse_hkd(text: &str) -> Result<Money, MoneyError> {
        let fail = |reason| MoneyError::Parse { text: text.to_string(), reason };
        let body = text.strip_prefix("HK$").unwrap_or(text);
        if body.is_empty() {
            return Err(fail("it is empty"));
        }
        if body.starts_with('-') {
            return Err(fail("amounts cannot be negative"));
        }
        if body.starts_with('+') {
            return Err(fail("a sign is not allowed"));
        }
        if body.contains(['e', 'E']) {
            return Err(fail("exponent notation is not allowed"));
        }
        let (whole, fraction) = match body.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (body, None),
        };
        if whole.is_empty() {
            return Err(fail("digits are required before the decimal point"));
        }
        let digits: String = if whole.contains(',') {
            let groups: Vec<&str> = whole.split(',').collect();
            let first_ok = (1..=3).contains(&groups[0].len());
            let rest_ok = groups[1..].iter().all(|group| group.len() == 3);
            if !first_ok || !rest_ok {
                return Err(fail("commas must separate groups of three digits"));
            }
            groups.concat()
        } else {
            whole.to_string()
        };
        if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(fail("only digits, thousands commas and a decimal point are allowed"));
        }
        let fraction_cents: u128 = match fraction {
            None => 0,
            Some("") => return Err(fail("digits are required after the decimal point")),
            Some(fraction) if fraction.len() > 2 => return Err(fail("at most two decimal places (cents) are allowed")),
            Some(fraction) if !fraction.bytes().all(|byte| byte.is_ascii_digit()) => return Err(fail("only digits are allowed after the decimal point")),
            Some(fraction) => {
                let value: u128 = fraction.parse().map_err(|_| fail("bad cents"))?;
                if fraction.len() == 1 {
                    value * 10
                } else {
                    value
                }
            }
        };
        if digits.len() > 20 {
            return Err(MoneyError::TooLarge { cents: u128::MAX, max: Self::MAX.0 });
        }
        let dollars: u128 = digits.parse().map_err(|_| fail("bad digits"))?;
        let cents = dollars * 100 + fraction_cents;
        if cents > Self::MAX.0 as u128 {
            return Err(MoneyError::TooLarge { cents, max: Self::MAX.0 });
        }
        Ok(Money(cents as u64))
    }
}

/// `part / whole` as a percentage with two decimals (rounded down), for
/// messages and reports; `n/a` when `whole` is zero.
pub fn percent(part: Money, whole: Money) -> String {
    if whole.is_zero() {
        return "n/a".to_string();
    }
    let basis_points = part.cents() as u128 * 10_000 / whole.cents() as u128;
    format!("{}.{:02}%", basis_points / 100, basis_points % 100)
}

/// `HK$1,234,567.89`: always two decimals, thousands separated by commas.
impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = self.0 / 100;
        let cents = self.0 % 100;
        let digits = dollars.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (position, digit) in digits.chars().enumerate() {
            if position > 0 && (digits.len() - position).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(formatter, "HK${grouped}.{cents:02}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CentsVisitor;
        impl serde::de::Visitor<'_> for CentsVisitor {
            type Value = Money;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                write!(formatter, "an amount as a non-negative integer of HK cents at most {}", Money::MAX.0)
            }
            fn visit_u64<E: serde::de::Error>(self, cents: u64) -> Result<Money, E> {
                Money::from_cents(cents).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, cents: i64) -> Result<Money, E> {
                if cents < 0 {
                    return Err(E::custom(format!("amount {cents} cents is negative; amounts are never negative")));
                }
                self.visit_u64(cents as u64)
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Money, E> {
                Err(E::custom(format!("amount {value} is not an integer of cents; amounts are integers of HK cents, never decimals")))
            }
        }
        deserializer.deserialize_u64(CentsVisitor)
    }
}

impl schemars::JsonSchema for Money {
    fn schema_name() -> String {
        "Money".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::Integer.into()), ..Default::default() };
        schema.metadata().description = Some("An amount of Hong Kong dollars as an integer number of cents.".to_string());
        schema.number().minimum = Some(0.0);
        schema.number().maximum = Some(Money::MAX.0 as f64);
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_write() {
        assert_eq!(Money::parse_hkd("250000").unwrap().cents(), 25_000_000);
        assert_eq!(Money::parse_hkd("250,000.00").unwrap().cents(), 25_000_000);
        assert_eq!(Money::parse_hkd("HK$1,000,000,000").unwrap(), Money::hkd(1_000_000_000));
        assert_eq!(Money::parse_hkd("0.5").unwrap().cents(), 50);
        assert_eq!(Money::parse_hkd("12.34").unwrap().cents(), 1234);
    }

    #[test]
    fn rejects_what_is_not_an_exact_amount() {
        for text in ["", "1.5e3", "1E3", "-5", "+5", "1,00", "1000,000", "12.345", "1.", ".5", "1 000", "abc", "1,0000"] {
            assert!(Money::parse_hkd(text).is_err(), "{text:?} should be rejected");
        }
        assert!(matches!(Money::parse_hkd("-5"), Err(MoneyError::Parse { reason, .. }) if reason.contains("negative")));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(matches!(Money::parse_hkd("999999999999999999999999"), Err(MoneyError::TooLarge { .. })));
        assert!(Money::MAX.checked_add(Money::from_cents(1).unwrap()).is_err());
        assert!(Money::from_cents(Money::MAX.cents() + 1).is_err());
        assert!(Money::ZERO.checked_sub(Money::from_cents(1).unwrap()).is_err());
        assert_eq!(Money::MAX.checked_add(Money::ZERO).unwrap(), Money::MAX);
    }

    #[test]
    fn prints_with_grouping_and_cents() {
        assert_eq!(Money::hkd(1_200_000_000).to_string(), "HK$1,200,000,000.00");
        assert_eq!(Money::from_cents(5).unwrap().to_string(), "HK$0.05");
        assert_eq!(Money::from_cents(100_000).unwrap().to_string(), "HK$1,000.00");
        assert_eq!(Money::from_cents(99_999).unwrap().to_string(), "HK$999.99");
    }

    #[test]
    fn json_is_integer_cents_and_refuses_negatives_and_decimals() {
        assert_eq!(serde_json::to_string(&Money::hkd(3)).unwrap(), "300");
        assert_eq!(serde_json::from_str::<Money>("300").unwrap(), Money::hkd(3));
        let negative = serde_json::from_str::<Money>("-1").unwrap_err().to_string();
        assert!(negative.contains("negative"), "{negative}");
        assert!(serde_json::from_str::<Money>("1.5").is_err());
        assert!(serde_json::from_str::<Money>("9007199254740992").is_err());
    }

    #[test]
    fn mul_div_is_exact() {
        let cost = Money::hkd(300);
        assert_eq!(cost.mul_div_floor(1, 3).unwrap(), Money::hkd(100));
        assert_eq!(Money::from_cents(100).unwrap().mul_div_floor(1, 3).unwrap().cents(), 33);
        assert!(Money::MAX.mul_div_floor(2, 1).is_err());
    }
}
