//! cty types ([`Type`]) and their JSON form, as found in provider schemas and in the
//! `type` of dynamic values.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{MAX_DEPTH, ValueError};

/// A cty type, as found in provider schemas and in dynamic values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// cty's `DynamicPseudoType`: the concrete type travels with the value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(t)` without spelling out the `Box`.
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    /// `set(t)` without spelling out the `Box`.
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }

    /// `map(t)` without spelling out the `Box`.
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }

    /// `object({...})` from any iterator of attribute names and types.
    pub fn object<I, K>(attrs: I) -> Type
    where
        I: IntoIterator<Item = (K, Type)>,
        K: Into<String>,
    {
        Type::Object(attrs.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// cty's JSON type notation, used in schemas and in dynamic values.
    pub fn to_json(&self) -> Json {
        let complex = |kind: &str, inner: Json| Json::Array(vec![Json::from(kind), inner]);
        match self {
            Type::Bool => Json::from("bool"),
            Type::Number => Json::from("number"),
            Type::String => Json::from("string"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => complex("list", t.to_json()),
            Type::Set(t) => complex("set", t.to_json()),
            Type::Map(t) => complex("map", t.to_json()),
            Type::Object(attrs) => complex(
                "object",
                Json::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_json()))
                        .collect(),
                ),
            ),
            Type::Tuple(elems) => complex(
                "tuple",
                Json::Array(elems.iter().map(Type::to_json).collect()),
            ),
        }
    }

    /// Compact JSON bytes; identical to what cty's `Type.MarshalJSON`
    /// produces (object attributes in sorted order, no whitespace).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses cty's JSON type notation. An object type's optional third
    /// element (the optional-attributes list written by newer cty) is
    /// ignored: optionality only matters to Terraform's own conversions.
    pub fn from_json(v: &Json) -> Result<Type, ValueError> {
        type_from_json(v, 0)
    }

    /// [`Type::from_json`] over raw JSON bytes.
    pub fn from_json_bytes(b: &[u8]) -> Result<Type, ValueError> {
        let v: Json = serde_json::from_slice(b)
            .map_err(|e| ValueError::new(format!("invalid type JSON: {e}")))?;
        Type::from_json(&v)
    }

    pub(super) fn is_primitive(&self) -> bool {
        matches!(
            self,
            Type::Bool | Type::Number | Type::String | Type::Dynamic
        )
    }
}

fn type_from_json(v: &Json, depth: usize) -> Result<Type, ValueError> {
    if depth > MAX_DEPTH {
        return Err(ValueError::new(format!(
            "type nesting exceeds {MAX_DEPTH} levels"
        )));
    }
    let nested = |t: &Json| type_from_json(t, depth + 1).map(Box::new);
    match v {
        Json::String(s) => match s.as_str() {
            "bool" => Ok(Type::Bool),
            "number" => Ok(Type::Number),
            "string" => Ok(Type::String),
            "dynamic" => Ok(Type::Dynamic),
            other => Err(ValueError::new(format!(
                "invalid primitive type name {other:?}"
            ))),
        },
        Json::Array(items) => match items.as_slice() {
            [Json::String(kind), rest @ ..] => match (kind.as_str(), rest) {
                ("list", [t]) => Ok(Type::List(nested(t)?)),
                ("set", [t]) => Ok(Type::Set(nested(t)?)),
                ("map", [t]) => Ok(Type::Map(nested(t)?)),
                ("object", [Json::Object(attrs)] | [Json::Object(attrs), _]) => attrs
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), type_from_json(t, depth + 1)?)))
                    .collect::<Result<_, _>>()
                    .map(Type::Object),
                ("tuple", [Json::Array(elems)]) => elems
                    .iter()
                    .map(|t| type_from_json(t, depth + 1))
                    .collect::<Result<_, _>>()
                    .map(Type::Tuple),
                (kind, _) => Err(ValueError::new(format!(
                    "invalid {kind:?} type description"
                ))),
            },
            _ => Err(ValueError::new(
                "complex type description must start with its kind name",
            )),
        },
        _ => Err(ValueError::new(
            "type description must be a string or an array",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn type_json() {
        assert_eq!(Type::String.to_json(), serde_json::json!("string"));
        assert_eq!(
            Type::list(Type::String).to_json(),
            serde_json::json!(["list", "string"])
        );
        assert_eq!(
            obj(&[("a", Type::Bool)]).to_json(),
            serde_json::json!(["object", {"a": "bool"}])
        );
        assert_eq!(
            Type::Tuple(vec![Type::Number, Type::Dynamic]).to_json(),
            serde_json::json!(["tuple", ["number", "dynamic"]])
        );
        assert_eq!(
            Type::set(Type::map(Type::String)).to_json_bytes(),
            br#"["set",["map","string"]]"#
        );
        assert_eq!(
            obj(&[("z", Type::Bool), ("a", Type::Number)]).to_json_bytes(),
            br#"["object",{"a":"number","z":"bool"}]"#
        );
        let with_optional = br#"["object",{"a":"string","b":["list","number"]},["b"]]"#;
        assert_eq!(
            Type::from_json_bytes(with_optional).unwrap(),
            obj(&[("a", Type::String), ("b", Type::list(Type::Number))])
        );
        for bad in [
            &br#""int""#[..],
            br#"["list"]"#,
            br#"["list","string","x"]"#,
            br#"["object",["a"]]"#,
            br#"["tuple","string"]"#,
            br#"[1,"string"]"#,
            b"{}",
            b"",
        ] {
            assert!(
                Type::from_json_bytes(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn type_json_round_trip(ty in arb_type()) {
            prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()), Ok(ty));
        }
    }
}
