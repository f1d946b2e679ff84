//! Typed models: plain Rust structs (`#[derive(Serialize, Deserialize)]`) in and out of
//! [`Value`], the way `serde_json::Value` converts, so a resource never writes conversion code.
//!
//! - `Option<T>`: null (and a missing attribute) is `None`; a null attribute is read as an
//!   absent one, so `#[serde(default)]` fields take their default.
//! - [`Maybe<T>`]: also tells an unknown value apart, for configurations and plans (declare it
//!   `#[serde(default)]`: a null one is absent).
//! - Sets and lists both come from and go to sequences; [`to_value`] shapes the result by the
//!   schema's type (a `BTreeSet<String>` becomes a cty set where the schema says set).
//!
//! serde's data model has no "unknown", so [`Maybe`] travels through a newtype struct with a
//! private name that only this module's (de)serializer treats specially.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer};

use super::value::{Number, Type, Value};

const MAYBE: &str = "$tfplugin::Maybe";

/// A value that may be null or not yet known (during validate and plan).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Maybe<T> {
    #[default]
    Null,
    Unknown,
    Known(T),
}

impl<T> Maybe<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Maybe::Known(t) => Some(t),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Maybe::Unknown)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Maybe::Null)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Maybe<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value, null or unknown")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Maybe<T>, E> {
                Ok(Maybe::Unknown)
            }
            fn visit_none<E: de::Error>(self) -> Result<Maybe<T>, E> {
                Ok(Maybe::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Maybe<T>, D::Error> {
                T::deserialize(d).map(Maybe::Known)
            }
        }
        d.deserialize_newtype_struct(MAYBE, V(std::marker::PhantomData))
    }
}

impl<T: Serialize> Serialize for Maybe<T> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Maybe::Null => s.serialize_none(),
            Maybe::Unknown => s.serialize_newtype_struct(MAYBE, &()),
            Maybe::Known(t) => s.serialize_some(t),
        }
    }
}

/// A model that does not fit the value (or the schema's type): a bug or a tampered state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

impl de::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}

impl ser::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}

/// Reads a model from a value (an object for a struct). Unknown values fail except inside
/// [`Maybe`].
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, ModelError> {
    T::deserialize(ValueDe(v))
}

/// Writes a model as a value of type `ty`: attributes the model lacks become null, sequences
/// become sets where `ty` says so.
pub fn to_value<T: Serialize>(t: &T, ty: &Type) -> Result<Value, ModelError> {
    Ok(conform(t.serialize(ValueSer)?, ty))
}

fn conform(v: Value, ty: &Type) -> Value {
    match (v, ty) {
        (v @ (Value::Null | Value::Unknown), _) => v,
        (Value::List(l) | Value::Set(l) | Value::Tuple(l), Type::Set(et)) => {
            Value::Set(l.into_iter().map(|x| conform(x, et)).collect())
        }
        (Value::List(l) | Value::Set(l), Type::List(et)) => {
            Value::List(l.into_iter().map(|x| conform(x, et)).collect())
        }
        (Value::Object(m) | Value::Map(m), Type::Map(et)) => {
            Value::Map(m.into_iter().map(|(k, x)| (k, conform(x, et))).collect())
        }
        (Value::Object(mut m) | Value::Map(mut m), Type::Object(attrs)) => Value::Object(
            attrs
                .iter()
                .map(|(k, at)| (k.clone(), conform(m.remove(k).unwrap_or(Value::Null), at)))
                .collect(),
        ),
        (v, _) => v,
    }
}

// ---- deserializing ----

struct ValueDe<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, ModelError> for ValueDe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> de::SeqAccess<'de> for Seq<'_> {
    type Error = ModelError;
    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, ModelError> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDe(v)))
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<'a> {
    it: std::collections::btree_map::Iter<'a, String, Value>,
    next: Option<&'a Value>,
}

impl<'de> de::MapAccess<'de> for Map<'_> {
    type Error = ModelError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ModelError> {
        // A null attribute reads as an absent one, so `#[serde(default)]` fields take their
        // default and `Option` fields are None.
        for (k, v) in self.it.by_ref() {
            if !v.is_null() {
                self.next = Some(v);
                return seed.deserialize(k.as_str().into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }
    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, ModelError> {
        let v = self
            .next
            .take()
            .ok_or_else(|| ModelError("value without a key".into()))?;
        seed.deserialize(ValueDe(v))
    }
}

impl<'de> Deserializer<'de> for ValueDe<'_> {
    type Error = ModelError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ModelError> {
        match self.0 {
            Value::Null => v.visit_none(),
            Value::Unknown => Err(ModelError(
                "a value is not known yet (only Maybe<T> may be unknown)".into(),
            )),
            Value::Bool(b) => v.visit_bool(*b),
            // Whole numbers reach integer fields however they were encoded.
            Value::Number(n) => match (n.as_i64(), n) {
                (Some(i), _) => v.visit_i64(i),
                (None, Number::Float(f)) => v.visit_f64(*f),
                (None, _) => v.visit_string(n.to_string()),
            },
            Value::String(s) => v.visit_str(s),
            Value::List(l) | Value::Set(l) | Value::Tuple(l) => v.visit_seq(Seq(l.iter())),
            Value::Map(m) | Value::Object(m) => v.visit_map(Map {
                it: m.iter(),
                next: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ModelError> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, ModelError> {
        if name == MAYBE {
            return match self.0 {
                Value::Null => v.visit_none(),
                Value::Unknown => v.visit_unit(),
                _ => v.visit_some(self),
            };
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ModelError> {
        // Unit variants from strings (`"table"` → ObjectType::Table with rename_all).
        match self.0 {
            Value::String(s) => v.visit_enum(s.as_str().into_deserializer()),
            other => Err(ModelError(format!(
                "expected a string for an enum, found {other:?}"
            ))),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ModelError> {
        v.visit_unit()
    }

    // Attributes the model does not declare (e.g. `id`, set by the adapter) may be unknown.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ModelError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct seq tuple tuple_struct map struct identifier
    }
}

// ---- serializing ----

struct ValueSer;

struct SeqSer(Vec<Value>);
struct MapSer {
    map: BTreeMap<String, Value>,
    key: Option<String>,
}

fn number<T: Into<Number>>(n: T) -> Result<Value, ModelError> {
    Ok(Value::Number(n.into()))
}

impl ser::Serializer for ValueSer {
    type Ok = Value;
    type Error = ModelError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = ser::Impossible<Value, ModelError>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = ser::Impossible<Value, ModelError>;

    fn serialize_bool(self, b: bool) -> Result<Value, ModelError> {
        Ok(Value::Bool(b))
    }
    fn serialize_i8(self, n: i8) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_i16(self, n: i16) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_i32(self, n: i32) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_i64(self, n: i64) -> Result<Value, ModelError> {
        number(n)
    }
    fn serialize_u8(self, n: u8) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_u16(self, n: u16) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_u32(self, n: u32) -> Result<Value, ModelError> {
        number(i64::from(n))
    }
    fn serialize_u64(self, n: u64) -> Result<Value, ModelError> {
        Ok(Value::Number(match i64::try_from(n) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Big(n.to_string()),
        }))
    }
    fn serialize_f32(self, n: f32) -> Result<Value, ModelError> {
        number(f64::from(n))
    }
    fn serialize_f64(self, n: f64) -> Result<Value, ModelError> {
        number(n)
    }
    fn serialize_char(self, c: char) -> Result<Value, ModelError> {
        Ok(Value::String(c.to_string()))
    }
    fn serialize_str(self, s: &str) -> Result<Value, ModelError> {
        Ok(Value::String(s.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, ModelError> {
        Err(ModelError("bytes have no cty form".into()))
    }
    fn serialize_none(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, t: &T) -> Result<Value, ModelError> {
        t.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, ModelError> {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        t: &T,
    ) -> Result<Value, ModelError> {
        if name == MAYBE {
            return Ok(Value::Unknown);
        }
        t.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<Value, ModelError> {
        Err(ModelError(format!(
            "enum variant {variant} with data has no cty form"
        )))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ModelError> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqSer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ModelError> {
        Err(ModelError(format!(
            "enum variant {variant} has no cty form"
        )))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, ModelError> {
        Ok(MapSer {
            map: BTreeMap::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapSer, ModelError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ModelError> {
        Err(ModelError(format!(
            "enum variant {variant} has no cty form"
        )))
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, t: &T) -> Result<(), ModelError> {
        self.0.push(t.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, t: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, t)
    }
    fn end(self) -> Result<Value, ModelError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, t: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, t)
    }
    fn end(self) -> Result<Value, ModelError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ModelError> {
        match k.serialize(ValueSer)? {
            Value::String(s) => {
                self.key = Some(s);
                Ok(())
            }
            other => Err(ModelError(format!(
                "map keys must be strings, not {other:?}"
            ))),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ModelError> {
        let k = self
            .key
            .take()
            .ok_or_else(|| ModelError("map value without a key".into()))?;
        self.map.insert(k, v.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::Map(self.map))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        k: &'static str,
        v: &T,
    ) -> Result<(), ModelError> {
        self.map.insert(k.to_string(), v.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::Object(self.map))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Table,
        Schema,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Model {
        name: String,
        limit: i64,
        on: bool,
        roles: Option<BTreeSet<String>>,
        path: Option<Vec<String>>,
        kind: Kind,
        #[serde(default)]
        id: Maybe<String>,
        note: Option<String>,
    }

    fn ty() -> Type {
        Type::object([
            ("name", Type::String),
            ("limit", Type::Number),
            ("on", Type::Bool),
            ("roles", Type::set(Type::String)),
            ("path", Type::list(Type::String)),
            ("kind", Type::String),
            ("id", Type::String),
            ("note", Type::String),
            ("extra", Type::String),
        ])
    }

    #[test]
    fn round_trips_through_the_schema_type() {
        let m = Model {
            name: "mario.rossi@example.com".into(),
            limit: -1,
            on: true,
            roles: Some(["b".to_string(), "a".to_string()].into()),
            path: Some(vec!["$user".into(), "public".into()]),
            kind: Kind::Table,
            id: Maybe::Unknown,
            note: None,
        };
        let v = to_value(&m, &ty()).unwrap();
        assert_eq!(
            v.get("roles"),
            &Value::Set(vec![Value::string("a"), Value::string("b")])
        );
        assert_eq!(v.get("path"), &Value::list_of_strings(["$user", "public"]));
        assert_eq!(v.get("kind"), &Value::string("table"));
        assert_eq!(v.get("id"), &Value::Unknown);
        assert!(matches!(
            v.as_map().and_then(|m| m.get("extra")),
            Some(Value::Null)
        ));
        assert_eq!(from_value::<Model>(&v).unwrap(), m);
    }

    #[test]
    fn null_missing_and_unknown() {
        let v = Value::object([
            ("name", Value::string("x")),
            ("limit", Value::int(3)),
            ("on", Value::bool(false)),
            ("kind", Value::string("schema")),
            ("id", Value::string("x")),
        ]);
        let m: Model = from_value(&v).unwrap();
        assert_eq!(m.roles, None);
        assert_eq!(m.id, Maybe::Known("x".into()));
        // An unknown where the model has no Maybe is an error, not a silent default.
        let mut bad = v.clone();
        bad.set_attr("name", Value::Unknown);
        assert!(from_value::<Model>(&bad).is_err());
        // A tampered state is refused with the reason.
        let mut bad = v;
        bad.set_attr("kind", Value::string("view"));
        let e = from_value::<Model>(&bad).unwrap_err();
        assert!(e.0.contains("view"), "{e}");
    }

    #[test]
    fn numbers_must_fit_their_field() {
        #[derive(Debug, Deserialize)]
        struct N {
            #[allow(dead_code)]
            n: i64,
        }
        let ok = Value::object([("n", Value::Number(Number::Float(5.0)))]);
        assert!(from_value::<N>(&ok).is_ok());
        let frac = Value::object([("n", Value::Number(Number::Float(1.5)))]);
        assert!(from_value::<N>(&frac).is_err());
        let big = Value::object([("n", Value::Number(Number::Big("1e30".into())))]);
        assert!(from_value::<N>(&big).is_err());
    }
}
