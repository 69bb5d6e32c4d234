//! Reading the lockdown reason from the flow plan context (step b of the algorithm).
//!
//! The context is JSON text. Only two keys matter: `prompt_data.lockdown_reason` and the
//! top-level `lockdown_reason`, so instead of building a `serde_json::Value` the parser
//! keeps a [`Node`] per value that reduces every JSON value to "object with the two keys
//! we read", "string" or "something else". Every other value is skipped with
//! [`IgnoredAny`], and no visitor ever fails, so an error from `serde_json` always means
//! the text is not JSON. This keeps the component small (no generic value tree).

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
