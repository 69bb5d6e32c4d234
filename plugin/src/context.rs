//! Reading the lockdown reason from the flow plan context (step b of the algorithm).
//!
//! The context is JSON text, and only two keys matter: `prompt_data.lockdown_reason`
//! and the top-level `lockdown_reason`. Reading them takes two steps:
//!
//! 1. `serde_json` checks the whole text is JSON, skipping every value with
//!    [`IgnoredAny`]; its error, when there is one, is the one users see.
//! 2. A `Walk` then finds the two keys in the text, which it knows to be valid JSON, and
//!    `unescape` decodes the strings it needs.
//!
//! Why not a `serde_json::Value`, or a typed visitor? Any typed `serde_json` call (as
//! opposed to skipping) brings in its number parser, its power-of-ten table and the
//! "invalid type" errors: about 7 KB of a component that must stay under 48 KiB, to
//! read two strings. Skipping a value and walking checked text need none of that.

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt;

use serde::de::IgnoredAny;

use crate::messages;

/// Where the preferred reason lives, as named in messages.
pub const PROMPT_DATA_REASON: &str = "prompt_data.lockdown_reason";
/// Where the fallback reason lives, as named in messages.
pub const TOP_LEVEL_REASON: &str = "lockdown_reason";

/// Why the plan context could not give a reason. Its `Display` is the user-facing message.
#[derive(Debug)]
pub enum ContextError {
    /// The text is not JSON.
    NotJson(serde_json::Error),
    /// The text is JSON but not an object.
    NotObject,
    /// `prompt_data` is present but not an object (`null` included).
    PromptDataNotObject,
    /// The chosen reason is present but not a string (`null` included); the field is
    /// [`PROMPT_DATA_REASON`] or [`TOP_LEVEL_REASON`].
    ReasonNotString(&'static str),
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(error) => f.write_str(&messages::context_not_json(error)),
            Self::NotObject => f.write_str(messages::CONTEXT_NOT_OBJECT),
            Self::PromptDataNotObject => f.write_str(messages::PROMPT_DATA_NOT_OBJECT),
            Self::ReasonNotString(location) => f.write_str(&messages::reason_not_string(location)),
        }
    }
}

/// Picks the lockdown reason from the plan context: `prompt_data.lockdown_reason` when
/// that key is present (even when empty), else the top-level `lockdown_reason`, else "".
///
/// Only the reason that is picked must be a string: a top-level `lockdown_reason` of any
/// type is ignored when `prompt_data.lockdown_reason` is present. When a key appears
/// twice in one object, the last one counts (as in most JSON libraries). An escaped
/// lone surrogate (`"\ud800"`), which no string can hold, becomes U+FFFD.
pub fn lockdown_reason(context: &str) -> Result<String, ContextError> {
    serde_json::from_str::<IgnoredAny>(context).map_err(ContextError::NotJson)?;
    let top = Fields::of(context).ok_or(ContextError::NotObject)?;
    if let Some(prompt_data) = top.prompt_data {
        let prompt_data = Fields::of(prompt_data).ok_or(ContextError::PromptDataNotObject)?;
        if let Some(reason) = prompt_data.lockdown_reason {
            return string(reason, PROMPT_DATA_REASON);
        }
    }
    top.lockdown_reason
        .map_or(Ok(String::new()), |reason| string(reason, TOP_LEVEL_REASON))
}

/// The decoded string a value holds, or the error naming `location`.
fn string(value: &str, location: &'static str) -> Result<String, ContextError> {
    if value.starts_with('"') {
        Ok(unescape(value).into_owned())
    } else {
        Err(ContextError::ReasonNotString(location))
    }
}

/// The text of the two values the lookup reads from one object; absent until seen.
#[derive(Default)]
struct Fields<'a> {
    prompt_data: Option<&'a str>,
    lockdown_reason: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// The fields of `value`, valid JSON text; `None` when it is not an object.
    fn of(value: &'a str) -> Option<Self> {
        let mut walk = Walk { text: value, at: 0 };
        if !walk.eat(b'{') {
            return None;
        }
        let mut fields = Self::default();
        if walk.eat(b'}') {
            return Some(fields);
        }
        loop {
            let key = unescape(walk.value());
            walk.eat(b':');
            let value = walk.value();
            match &*key {
                "prompt_data" => fields.prompt_data = Some(value),
                "lockdown_reason" => fields.lockdown_reason = Some(value),
                _ => {}
            }
            if !walk.eat(b',') {
                return Some(fields);
            }
        }
    }
}

/// A cursor over text that `serde_json` has already accepted as JSON, so the walk meets
/// no syntax error: it only has to find where each value ends.
struct Walk<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Walk<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then `byte` if it comes next; says whether it did.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    /// Skips whitespace and one value; returns the value's text.
    fn value(&mut self) -> &'a str {
        self.skip_whitespace();
        let start = self.at;
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => self.skip_container(),
            // A number, `true`, `false` or `null`: up to the next delimiter.
            _ => {
                while self.peek().is_some_and(|b| {
                    !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.at += 1;
                }
            }
        }
        // Every stop is at an ASCII byte, so a char boundary; `get` keeps the slicing
        // panic (and its formatting code) out of the component all the same.
        self.text.get(start..self.at).unwrap_or_default()
    }

    /// Skips a string from its opening quote to past its closing one.
    fn skip_string(&mut self) {
        self.at += 1;
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'\\' => self.at += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    /// Skips an object or array, nested ones and strings (brackets in them) included.
    fn skip_container(&mut self) {
        let mut depth = 0_usize;
        while let Some(byte) = self.peek() {
            match byte {
                b'"' => {
                    self.skip_string();
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

/// Decodes a JSON string literal (quotes included) that `serde_json` has accepted.
/// Borrows when there is no escape to decode.
fn unescape(literal: &str) -> Cow<'_, str> {
    let inner = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(literal);
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(rest.get(..backslash).unwrap_or_default());
        let escape = rest.as_bytes().get(backslash + 1).copied().unwrap_or(b'\\');
        rest = rest.get(backslash + 2..).unwrap_or_default();
        out.push(match escape {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(&mut rest);
                match unit {
                    // A high surrogate followed by an escaped low one: one code point.
                    0xD800..0xDC00 if rest.starts_with("\\u") => {
                        let mut after = rest.get(2..).unwrap_or_default();
                        let low = hex4(&mut after);
                        if (0xDC00..0xE000).contains(&low) {
                            rest = after;
                            let code = 0x1_0000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                        } else {
                            char::REPLACEMENT_CHARACTER
                        }
                    }
                    _ => char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
                }
            }
            // `"`, `\` and `/` stand for themselves.
            other => char::from(other),
        });
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Reads the four hex digits of a `\u` escape from the start of `text` and moves past
/// them.
fn hex4(text: &mut &str) -> u32 {
    let digits = text.get(..4).unwrap_or_default();
    *text = text.get(4..).unwrap_or_default();
    u32::from_str_radix(digits, 16).unwrap_or(u32::from(char::REPLACEMENT_CHARACTER))
}

#[cfg(test)]
mod tests {
    //! The walk against a reference: the same rule computed on a `serde_json::Value`,
    //! over many generated contexts (random nesting, key order, duplicates, whitespace,
    //! escapes, brackets and quotes inside strings).

    use alloc::{format, string::ToString, vec::Vec};

    use serde_json::Value;

    use super::*;

    /// The reason rule, written the obvious way on a full JSON tree.
    fn reference(context: &str) -> Result<String, &'static str> {
        let Value::Object(top) = serde_json::from_str(context).expect("generated JSON") else {
            return Err("not an object");
        };
        if let Some(prompt_data) = top.get("prompt_data") {
            let Value::Object(prompt_data) = prompt_data else {
                return Err("prompt_data not an object");
            };
            if let Some(reason) = prompt_data.get("lockdown_reason") {
                return reason.as_str().map(String::from).ok_or(PROMPT_DATA_REASON);
            }
        }
        match top.get("lockdown_reason") {
            None => Ok(String::new()),
            Some(reason) => reason.as_str().map(String::from).ok_or(TOP_LEVEL_REASON),
        }
    }

    fn walked(context: &str) -> Result<String, &'static str> {
        lockdown_reason(context).map_err(|error| match error {
            ContextError::NotJson(error) => panic!("generated JSON refused: {error}: {context}"),
            ContextError::NotObject => "not an object",
            ContextError::PromptDataNotObject => "prompt_data not an object",
            ContextError::ReasonNotString(location) => location,
        })
    }

    /// A small deterministic generator of JSON text (no `rand` needed).
    struct Gen(u64);

    impl Gen {
        fn next(&mut self, below: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).expect("31 bits fit") % below
        }

        fn space(&mut self, out: &mut String) {
            for _ in 0..self.next(3) {
                out.push([' ', '\t', '\n', '\r'][self.next(4)]);
            }
        }

        fn string(&mut self, out: &mut String, text: &str) {
            out.push('"');
            for c in text.chars() {
                match (c, self.next(3)) {
                    ('"', _) => out.push_str("\\\""),
                    ('\\', _) => out.push_str("\\\\"),
                    (c, _) if u32::from(c) < 0x20 => {
                        out.push_str(&format!("\\u{:04x}", u32::from(c)))
                    }
                    // Sometimes escape an ordinary character, astral ones as a pair.
                    (c, 0) => {
                        let mut units = [0_u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                    ('/', 1) => out.push_str("\\/"),
                    (c, _) => out.push(c),
                }
            }
            out.push('"');
        }

        fn text(&mut self) -> String {
            const PIECES: [&str; 12] = [
                "a",
                "lockdown",
                " ",
                "\"",
                "\\",
                "{",
                "}]",
                "[",
                ":,",
                "\u{e9}",
                "\u{1f512}",
                "\n/",
            ];
            (0..self.next(5))
                .map(|_| PIECES[self.next(PIECES.len())])
                .collect()
        }

        fn key(&mut self) -> String {
            const KEYS: [&str; 5] = ["prompt_data", "lockdown_reason", "other", "prompt", "x\"y"];
            KEYS[self.next(KEYS.len())].to_string()
        }

        fn value(&mut self, out: &mut String, depth: u32) {
            self.space(out);
            let kinds = if depth == 0 { 5 } else { 7 };
            match self.next(kinds) {
                0 => out.push_str(["null", "true", "false"][self.next(3)]),
                1 => out.push_str(
                    ["0", "-12", "3.5e-7", "1E+300", "18446744073709551616"][self.next(5)],
                ),
                2 | 3 => {
                    let text = self.text();
                    self.string(out, &text);
                }
                4 => out.push_str(["{}", "[]"][self.next(2)]),
                5 => {
                    out.push('[');
                    for i in 0..self.next(3) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.value(out, depth - 1);
                    }
                    self.space(out);
                    out.push(']');
                }
                _ => self.object(out, depth - 1),
            }
            self.space(out);
        }

        fn object(&mut self, out: &mut String, depth: u32) {
            out.push('{');
            for i in 0..self.next(4) {
                if i > 0 {
                    out.push(',');
                }
                self.space(out);
                let key = self.key();
                self.string(out, &key);
                self.space(out);
                out.push(':');
                self.value(out, depth);
            }
            self.space(out);
            out.push('}');
        }
    }

    #[test]
    fn the_walk_agrees_with_a_full_parse_on_generated_contexts() {
        let mut generator = Gen(0x5eed);
        let mut outcomes: Vec<Result<String, &str>> = Vec::new();
        for _ in 0..20_000 {
            let mut context = String::new();
            generator.space(&mut context);
            if generator.next(10) == 0 {
                generator.value(&mut context, 2);
            } else {
                generator.object(&mut context, 3);
            }
            let expected = reference(&context);
            assert_eq!(walked(&context), expected, "{context}");
            outcomes.push(expected);
        }
        // The generator reaches every branch of the rule.
        for wanted in [
            "not an object",
            "prompt_data not an object",
            PROMPT_DATA_REASON,
            TOP_LEVEL_REASON,
        ] {
            assert!(outcomes.contains(&Err(wanted)), "never produced {wanted}");
        }
        assert!(
            outcomes
                .iter()
                .any(|o| o.as_ref().is_ok_and(|r| r.contains('"')))
        );
        assert!(outcomes.contains(&Ok(String::new())));
    }
}
