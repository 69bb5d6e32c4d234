//! Reading the lockdown reason from the flow plan context (step b of the algorithm).
//!
//! The context is JSON text. Only two keys matter: `prompt_data.lockdown_reason` and the
//! top-level `lockdown_reason`, so instead of building a `serde_json::Value` the parser
//! keeps a [`Node`] per value that reduces every JSON value to "object with the two keys
//! we read", "string" or "something else". Every other value is skipped with
//! [`IgnoredAny`], and no visitor ever fails, so an error from `serde_json` means the
//! text is not JSON, with one exception: objects nested more than 128 deep through
//! `prompt_data` and `lockdown_reason` keys hit serde_json's recursion limit (which
//! keeps the component's stack safe) and are reported the same way, with serde_json's
//! "recursion limit exceeded". Skipped values may nest to any depth. This keeps the
//! component small (no generic value tree).

use core::fmt;

use alloc::{borrow::ToOwned, boxed::Box, string::String};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
/// twice in one object, the last one counts (as in most JSON libraries).
pub fn lockdown_reason(context: &str) -> Result<String, ContextError> {
    let Node::Object(top) = serde_json::from_str(context).map_err(ContextError::NotJson)? else {
        return Err(ContextError::NotObject);
    };
    if let Some(prompt_data) = top.prompt_data {
        let Node::Object(prompt_data) = *prompt_data else {
            return Err(ContextError::PromptDataNotObject);
        };
        if let Some(reason) = prompt_data.lockdown_reason {
            return into_string(*reason, PROMPT_DATA_REASON);
        }
    }
    top.lockdown_reason.map_or(Ok(String::new()), |reason| {
        into_string(*reason, TOP_LEVEL_REASON)
    })
}

fn into_string(node: Node, location: &'static str) -> Result<String, ContextError> {
    match node {
        Node::String(text) => Ok(text),
        Node::Object(_) | Node::Other => Err(ContextError::ReasonNotString(location)),
    }
}

/// A JSON value, reduced to what the reason lookup needs.
enum Node {
    Object(Fields),
    String(String),
    /// `null`, a boolean, a number or an array.
    Other,
}

/// The keys of an object the lookup reads; both are absent until seen.
#[derive(Default)]
struct Fields {
    prompt_data: Option<Box<Node>>,
    lockdown_reason: Option<Box<Node>>,
}

/// An object key, sorted into the two the lookup reads and the rest.
enum Key {
    PromptData,
    LockdownReason,
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::PromptData => fields.prompt_data = Some(Box::new(map.next_value()?)),
                Key::LockdownReason => fields.lockdown_reason = Some(Box::new(map.next_value()?)),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Node::Object(fields))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Node, E> {
        Ok(Node::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Node, E> {
        Ok(Node::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Node::Other)
    }

    // The scalars: overriding them keeps serde's "invalid type" errors (and their
    // number formatting) out of the component.
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "prompt_data" => Key::PromptData,
            "lockdown_reason" => Key::LockdownReason,
            _ => Key::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The parser against a reference: the same rule computed on a `serde_json::Value`,
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

    fn parsed(context: &str) -> Result<String, &'static str> {
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
    fn the_reduced_parse_agrees_with_a_full_parse_on_generated_contexts() {
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
            assert_eq!(parsed(&context), expected, "{context}");
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
