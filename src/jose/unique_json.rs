//! JSON objects read as a strict recipient must: a member name twice, at
//! any depth, is no object at all (RFC 7515 §5.2, RFC 7519 §4, RFC 8259
//! §4). `serde_json` keeps the last of two `sub`s; another parser may keep
//! the first, and the two would disagree about whom a token names.

use serde_json::{Map, Value};

/// `bytes` as a JSON object with no member name twice; `None` otherwise.
pub(crate) fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .ok()
        .map(|object| object.0)
}

/// A JSON object with no member name twice, to deserialize an answer into.
pub(crate) struct UniqueObject(pub(crate) Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueObject, D::Error> {
        match Unique::deserialize(deserializer)?.0 {
            Value::Object(map) => Ok(UniqueObject(map)),
            _ => Err(serde::de::Error::custom("not a JSON object")),
        }
    }
}

/// A JSON value whose objects have no member name twice.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Unique, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(Unique(value)) = seq.next_element()? {
            list.push(value);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some((name, Unique(value))) = access.next_entry::<String, Unique>()? {
            if map.contains_key(&name) {
                return Err(serde::de::Error::custom("a member name appears twice"));
            }
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_named_twice_at_any_depth_is_no_object() {
        assert!(object(br#"{"sub":"a","n":{"x":[1,{"y":2}]}}"#).is_some());
        assert!(object(br#"{"sub":"a","sub":"b"}"#).is_none());
        assert!(object(br#"{"cnf":{"jkt":"a","jkt":"b"}}"#).is_none());
        assert!(object(br#"{"l":[{"x":1,"x":1}]}"#).is_none());
        assert!(object(b"[1]").is_none() && object(b"not json").is_none());
    }
}
