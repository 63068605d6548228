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
        Value::Number(number) => match signed_json_integer(number) {
            Some(integer) => {
                let _ = write!(out, "{integer}");
            }
            None => return Err(CanonicalError::Number(number.to_string(), path.clone())),
        },
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
            sort_names(&mut names);
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

/// The integer a JSON number stands for, if it lies in signed JSON's subset.
fn signed_json_integer(number: &serde_json::Number) -> Option<i64> {
    match number.as_u64() {
        Some(unsigned) => (unsigned <= INTEGER_MAGNITUDE_MAX).then_some(unsigned as i64),
        None => number.as_i64().filter(|signed| signed.unsigned_abs() <= INTEGER_MAGNITUDE_MAX),
    }
}

/// RFC 8785 3.2.3: object members sort by UTF-16 code units, which differs
/// from byte order only for characters above U+FFFF.
fn sort_names<T: AsRef<str>>(names: &mut [T]) {
    names.sort_by(|a, b| a.as_ref().encode_utf16().cmp(b.as_ref().encode_utf16()));
}

impl CanonicalError {
    /// The same error, with a number outside the subset quoted as `text`
    /// (the JSON it was canonicalised from) writes it, not as serde_json
    /// re-prints it (`1e5`, not `100000.0`). The number is found by walking
    /// `text` in the canonical order, so it is the one the error is about.
    pub fn quoting(self, text: &str) -> CanonicalError {
        match self {
            CanonicalError::Number(printed, path) => CanonicalError::Number(first_number_outside_the_subset(text).unwrap_or(printed), path),
            other => other,
        }
    }
}

/// The first number, in canonical order, that is not a signed JSON integer, as written in `text`.
fn first_number_outside_the_subset(text: &str) -> Option<String> {
    let text = text.trim();
    match text.as_bytes().first()? {
        b'{' => {
            let members: std::collections::HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_str(text).ok()?;
            let mut names: Vec<&String> = members.keys().collect();
            sort_names(&mut names);
            names.into_iter().find_map(|name| first_number_outside_the_subset(members[name].get()))
        }
        b'[' => {
            let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(text).ok()?;
            items.iter().find_map(|item| first_number_outside_the_subset(item.get()))
        }
        b'-' | b'0'..=b'9' => {
            let number: serde_json::Number = serde_json::from_str(text).ok()?;
            signed_json_integer(&number).is_none().then(|| text.to_string())
        }
        _ => None,
    }
}

/// Whether `bytes` are already the canonical form of the JSON they hold,
/// decided in one pass without building a value: what a stored record's body
/// must be, and what well-behaved clients submit.
///
/// It is sound, not complete: `true` means `canonicalize(parse(bytes))` gives
/// `bytes` back (a property test and the fuzz target hold it to that), while
/// `false` may also mean "outside the fast subset", so callers fall back to
/// [`canonicalize`], which names the precise problem. Building a
/// `serde_json::Value` and re-canonicalising it costs microseconds per body,
/// a large share of what verifying a stored record costs besides ed25519.
pub fn is_canonical(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    canonical_value_length(text) == Some(bytes.len())
}

/// The length of the JSON value at the start of `text` if it is canonical
/// (as [`is_canonical`] decides); what follows it is not looked at.
pub fn canonical_value_length(text: &str) -> Option<usize> {
    let mut scanner = Scanner { text, at: 0 };
    scanner.value(0).then_some(scanner.at)
}

/// The length of the longest prefix of `bytes` with no quote, backslash or
/// control character (below 0x20): the part of a JSON string that is its own
/// text. Eight bytes at a time, since strings are most of a body's bytes.
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // `(x - ONES * n) & !x & HIGHS` flags bytes below n (n <= 128); its
    // lowest flag is always a real one, and so is the lowest of the three.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    let mut at = 0;
    while let Some(Ok(word)) = bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
        let word = u64::from_le_bytes(word);
        let found = below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = &bytes[at..];
    at + rest.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20).unwrap_or(rest.len())
}

/// A cursor over JSON text that accepts only canonical forms.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn literal(&mut self, word: &str) -> bool {
        let found = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
        self.at += if found { word.len() } else { 0 };
        found
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > NESTING_DEPTH_MAX {
            return false;
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => false,
        }
    }

    /// Members strictly ascending by UTF-16 code units: sorted, no duplicates.
    fn object(&mut self, depth: usize) -> bool {
        debug_assert_eq!(self.peek(), Some(b'{'));
        self.at += 1;
        if self.eat(b'}') {
            return true;
        }
        let mut previous: Option<std::borrow::Cow<'a, str>> = None;
        loop {
            let Some(name) = self.string() else { return false };
            if previous.as_deref().is_some_and(|previous| !utf16_less(previous, &name)) {
                return false;
            }
            if !self.eat(b':') || !self.value(depth + 1) {
                return false;
            }
            previous = Some(name);
            if !self.eat(b',') {
                return self.eat(b'}');
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        debug_assert_eq!(self.peek(), Some(b'['));
        self.at += 1;
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth + 1) {
                return false;
            }
            if !self.eat(b',') {
                return self.eat(b']');
            }
        }
    }

    /// A string escaped exactly as [`write_string`] escapes; its decoded text.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at += plain_run(&self.text.as_bytes()[self.at..]);
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += self.escape_length()?;
                }
                _ => return None,
            }
        }
        // Both ends are ASCII quotes, so these are character boundaries.
        let raw = &self.text[start..self.at];
        self.at += 1;
        Some(if escaped { std::borrow::Cow::Owned(unescape(raw)) } else { std::borrow::Cow::Borrowed(raw) })
    }

    /// The length of the escape at the cursor, if it is one [`write_string`] writes.
    fn escape_length(&self) -> Option<usize> {
        let bytes = &self.text.as_bytes()[self.at..];
        match bytes.get(1)? {
            b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => Some(2),
            b'u' => {
                let code = bytes.get(2..6)?;
                let lower_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
                if code[0] != b'0' || code[1] != b'0' || !code[2..].iter().all(lower_hex) {
                    return None;
                }
                let value = u8::from_str_radix(std::str::from_utf8(&code[2..]).ok()?, 16).ok()?;
                (value < 0x20 && !matches!(value, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)).then_some(6)
            }
            _ => None,
        }
    }

    /// Plain decimal, no leading zero, no `-0`, magnitude at most 2^53 - 1.
    fn integer(&mut self) -> bool {
        let negative = self.eat(b'-');
        let start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.text[start..self.at];
        let Some(first) = digits.bytes().next() else { return false };
        if first == b'0' && (digits.len() > 1 || negative) {
            return false;
        }
        digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|magnitude| magnitude <= INTEGER_MAGNITUDE_MAX)
    }
}

/// RFC 8785 member order: by UTF-16 code units (byte order for ASCII).
fn utf16_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a < b
    } else {
        a.encode_utf16().lt(b.encode_utf16())
    }
}

/// The text of a string body whose escapes [`Scanner::escape_length`] accepted.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut characters = raw.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('b') => out.push('\u{08}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('f') => out.push('\u{0c}'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let code: String = characters.by_ref().take(4).collect();
                out.extend(u32::from_str_radix(&code, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
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
    proptest::proptest! {
        #[test]
        fn the_word_at_a_time_scan_stops_where_the_byte_at_a_time_scan_stops(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), plain in proptest::collection::vec(0x20u8..=0xff, 0..40)) {
            // Plain bytes first, then anything: both ends of a word, and every byte value, get tested.
            let input: Vec<u8> = plain.iter().chain(&bytes).copied().collect();
            let naive = input.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20).unwrap_or(input.len());
            proptest::prop_assert_eq!(super::plain_run(&input), naive);
        }
    }

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
    fn a_refused_number_is_quoted_as_written() {
        for (text, written, path) in [
            (r#"{"b":[1,2],"a":{"x":1e5}}"#, "1e5", "$.a.x"),
            (r#"{"amount_cents":1.50}"#, "1.50", "$.amount_cents"),
            (r#"{"z":1.0,"a":[7,-0.5E2]}"#, "-0.5E2", "$.a[1]"),
            (r#"{"big":9007199254740992}"#, "9007199254740992", "$.big"),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let error = canonicalize(&value).unwrap_err().quoting(text);
            assert_eq!(error, CanonicalError::Number(written.to_string(), path.to_string()), "{text}");
            assert!(error.to_string().starts_with(&format!("number {written} at {path} ")), "{error}");
        }
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
    fn recognises_canonical_bytes_without_parsing() {
        for canonical in [
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":-5}}"#,
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}é€/\"",
            "{\"\\r\":3,\"1\":4,\"\u{1f600}\":2,\"\u{ff61}\":1}",
            "[]",
            "{}",
            "0",
            "-9007199254740991",
        ] {
            assert!(is_canonical(canonical.as_bytes()), "{canonical}");
            assert_eq!(canonicalize(&serde_json::from_str(canonical).unwrap()).unwrap(), canonical.as_bytes());
        }
        for other in [
            r#"{"b":1,"a":2}"#, // unsorted
            r#"{"a":1,"a":1}"#, // duplicate member
            r#"{"a": 1}"#,      // whitespace
            r#"{"\u0061":1}"#,  // needless escape
            r#""\/""#,          // escaped solidus
            r#""\u001F""#,      // upper-case hex
            r#""\u0009""#,      // \t spelled long
            "-0",
            "01",
            "1.0",
            "1e3",
            "9007199254740992",
            "[1,]",
            "{\"\u{ff61}\":1,\"\u{1f600}\":2}", // byte order, not UTF-16 order
            "\"\u{1}\"",                        // raw control character
            "tru",
            "",
        ] {
            assert!(!is_canonical(other.as_bytes()), "{other}");
        }
        assert!(!is_canonical(b"\"\xff\""));
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(!is_canonical(deep.to_string().as_bytes()));
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
