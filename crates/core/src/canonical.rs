//! RFC 8785 (JSON Canonicalization Scheme) for the JSON that fundledger signs.
//!
//! Event bodies contain only objects, arrays, strings, booleans, null and
//! integers within ±(2^53 - 1). For that subset JCS is: no whitespace, object
//! members sorted by the UTF-16 code units of their names, strings escaped as
//! ECMAScript's `JSON.stringify` does, integers in plain decimal. Anything
//! outside the subset (a fraction, an exponent, a huge integer) is refused
//! rather than canonicalised, so two implementations can never disagree about
//! how a number is printed.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// The largest integer magnitude allowed in signed JSON: 2^53 - 1.
pub const INTEGER_MAGNITUDE_MAX: u64 = (1 << 53) - 1;
/// How deeply objects and arrays may nest in signed JSON.
pub const NESTING_DEPTH_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CanonicalError {
    #[error("number {0} at {1} is not an integer within ±(2^53-1); signed JSON allows only such integers")]
    Number(String, String),
    #[error("JSON nests deeper than {NESTING_DEPTH_MAX} levels at {0}")]
    TooDeep(String),
    #[error("value cannot be represented as JSON: {0}")]
    Serialize(String),
}

/// Canonical bytes of any serialisable value.
pub fn to_canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|error| CanonicalError::Serialize(error.to_string()))?;
    canonicalize(&value)
}

/// Canonical bytes of a JSON value.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::with_capacity(512);
    write_value(&mut out, value, &mut String::from("$"), 0)?;
    Ok(out.into_bytes())
}

fn write_value(out: &mut String, value: &Value, path: &mut String, depth: usize) -> Result<(), CanonicalError> {
    if depth > NESTING_DEPTH_MAX {
        return Err(CanonicalError::TooDeep(path.clone()));
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            if let Some(unsigned) = number.as_u64().filter(|&n| n <= INTEGER_MAGNITUDE_MAX) {
                let _ = write!(out, "{unsigned}");
            } else if let Some(signed) = number.as_i64().filter(|n| n.unsigned_abs() <= INTEGER_MAGNITUDE_MAX) {
                let _ = write!(out, "{signed}");
            } else {
                return Err(CanonicalError::Number(number.to_string(), path.clone()));
            }
        }
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let length = path.len();
                let _ = write!(path, "[{index}]");
                write_value(out, item, path, depth + 1)?;
                path.truncate(length);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            // RFC 8785 3.2.3: sort by UTF-16 code units, which differs from
            // byte order only for characters above U+FFFF.
            names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (index, name) in names.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                let length = path.len();
                let _ = write!(path, ".{name}");
                write_value(out, &members[name], path, depth + 1)?;
                path.truncate(length);
            }
            out.push('}');
        }
    }
    Ok(())
}

/// ECMAScript `JSON.stringify` string escaping (RFC 8785 3.2.2.2).
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{09}' => out.push_str("\\t"),
            '\u{0a}' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0d}' => out.push_str("\\r"),
            control if (control as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: Value) -> String {
        String::from_utf8(canonicalize(&value).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_and_drops_whitespace() {
        assert_eq!(canonical(json!({"b": 1, "a": [true, null, "x"], "c": {"z": -5, "y": 0}})), r#"{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":-5}}"#);
    }

    #[test]
    fn escapes_like_ecmascript() {
        assert_eq!(canonical(json!("a\"b\\c\n\u{1}\u{7f}é€/")), "\"a\\\"b\\\\c\\n\\u0001\u{7f}é€/\"");
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+FF61 is EF BD A1 in UTF-8 but 0xFF61 in UTF-16; U+1F600 is F0 9F 98 80
        // in UTF-8 but 0xD83D 0xDE00 in UTF-16: byte order and RFC 8785 order differ.
        assert_eq!(canonical(json!({"\u{ff61}": 1, "\u{1f600}": 2, "\r": 3, "1": 4})), "{\"\\r\":3,\"1\":4,\"\u{1f600}\":2,\"\u{ff61}\":1}");
    }

    #[test]
    fn refuses_numbers_outside_the_integer_subset() {
        assert!(canonicalize(&json!(1.5)).is_err());
        assert!(canonicalize(&json!(9_007_199_254_740_992u64)).is_err());
        assert!(canonicalize(&json!(-9_007_199_254_740_992i64)).is_err());
        assert!(canonicalize(&json!(9_007_199_254_740_991u64)).is_ok());
        let error = canonicalize(&json!({"data": {"amount": 1.5}})).unwrap_err().to_string();
        assert!(error.contains("$.data.amount"), "{error}");
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut value = json!(1);
        for _ in 0..40 {
            value = json!([value]);
        }
        assert!(matches!(canonicalize(&value), Err(CanonicalError::TooDeep(_))));
    }
}
