//! Legacy SDKv2 flatmap state (`RawState.flatmap`), following Terraform's `hcl2shim`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::{MAX_DEPTH, Type, UNKNOWN_SENTINEL, Value, ValueError, primitive_from_str};

/// Decodes a legacy flatmap state (`RawState.flatmap`) into an object of
/// type `ty`, following Terraform's `hcl2shim.HCL2ValueFromFlatmap`:
///
/// * primitives live at their key (`name`); absent keys are null and
///   [`UNKNOWN_SENTINEL`] is unknown; text is converted per the type;
/// * lists and tuples have `key.#` = count and elements at `key.0`, ...;
/// * sets have `key.#` and elements under arbitrary (hash) indices
///   `key.1234`, decoded in index order;
/// * maps have `key.%` = count and entries at `key.<map key>` (a map of
///   primitives takes the whole remainder, dots included, as the key);
/// * nested blocks nest prefixes: `block.0.attr`.
pub fn decode_flatmap(m: &HashMap<String, String>, ty: &Type) -> Result<Value, ValueError> {
    match ty {
        Type::Object(attrs) => flat_object(m, "", attrs, 0),
        _ => Err(ValueError::new(
            "flatmap state can only be decoded as an object type",
        )),
    }
}

fn flat_err(key: &str, msg: impl fmt::Display) -> ValueError {
    ValueError::new(format!("invalid value for {key:?} in state: {msg}"))
}

fn flat_value(
    m: &HashMap<String, String>,
    key: &str,
    ty: &Type,
    depth: usize,
) -> Result<Value, ValueError> {
    if depth > MAX_DEPTH {
        return Err(flat_err(key, format!("nesting exceeds {MAX_DEPTH} levels")));
    }
    match ty {
        Type::Bool | Type::Number | Type::String | Type::Dynamic => flat_primitive(m, key, ty),
        Type::Object(attrs) => flat_object(m, &format!("{key}."), attrs, depth + 1),
        Type::List(et) => match flat_count(m, key, "#")? {
            Flat::Null => Ok(Value::Null),
            Flat::Unknown => Ok(Value::Unknown),
            Flat::Count(n) => (0..n)
                .map(|i| flat_value(m, &format!("{key}.{i}"), et, depth + 1))
                .collect::<Result<_, _>>()
                .map(Value::List),
        },
        Type::Tuple(ets) => match flat_count(m, key, "#")? {
            Flat::Null => Ok(Value::Null),
            Flat::Unknown => Ok(Value::Unknown),
            Flat::Count(n) if n != ets.len() => Err(flat_err(
                key,
                format!("got {n} elements, but need {}", ets.len()),
            )),
            Flat::Count(_) => ets
                .iter()
                .enumerate()
                .map(|(i, et)| flat_value(m, &format!("{key}.{i}"), et, depth + 1))
                .collect::<Result<_, _>>()
                .map(Value::Tuple),
        },
        Type::Set(et) => match flat_count(m, key, "#")? {
            Flat::Null => Ok(Value::Null),
            Flat::Unknown => Ok(Value::Unknown),
            Flat::Count(n) => {
                let prefix = format!("{key}.");
                let mut items = flat_children(m, &prefix, "#")
                    .into_iter()
                    .map(|id| flat_value(m, &format!("{prefix}{id}"), et, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() && n == 1 {
                    // A set holding one element whose every attribute is
                    // empty leaves no keys behind (hcl2shim does the same).
                    items.push(flat_empty(et));
                }
                Ok(Value::Set(items))
            }
        },
        Type::Map(et) => match flat_count(m, key, "%")? {
            Flat::Null => Ok(Value::Null),
            Flat::Unknown => Ok(Value::Unknown),
            Flat::Count(_) => {
                let prefix = format!("{key}.");
                let mut out = BTreeMap::new();
                if et.is_primitive() {
                    for k in m.keys() {
                        if let Some(sub) = k.strip_prefix(&prefix).filter(|s| *s != "%") {
                            out.insert(sub.to_owned(), flat_primitive(m, k, et)?);
                        }
                    }
                } else {
                    for id in flat_children(m, &prefix, "%") {
                        let v = flat_value(m, &format!("{prefix}{id}"), et, depth + 1)?;
                        out.insert(id.to_owned(), v);
                    }
                }
                Ok(Value::Map(out))
            }
        },
    }
}

fn flat_primitive(m: &HashMap<String, String>, key: &str, ty: &Type) -> Result<Value, ValueError> {
    match m.get(key).map(String::as_str) {
        None => Ok(Value::Null),
        Some(UNKNOWN_SENTINEL) => Ok(Value::Unknown),
        Some(s) => primitive_from_str(s, ty).map_err(|e| flat_err(key, e)),
    }
}

fn flat_object(
    m: &HashMap<String, String>,
    prefix: &str,
    attrs: &BTreeMap<String, Type>,
    depth: usize,
) -> Result<Value, ValueError> {
    attrs
        .iter()
        .map(|(name, aty)| {
            Ok((
                name.clone(),
                flat_value(m, &format!("{prefix}{name}"), aty, depth + 1)?,
            ))
        })
        .collect::<Result<_, _>>()
        .map(Value::Object)
}

enum Flat {
    Null,
    Unknown,
    Count(usize),
}

/// Reads a collection's count entry (`key.#` or `key.%`). The count is
/// bounded by the number of entries so a tampered state cannot make us
/// build billions of null elements.
fn flat_count(m: &HashMap<String, String>, key: &str, marker: &str) -> Result<Flat, ValueError> {
    if m.get(key).map(String::as_str) == Some(UNKNOWN_SENTINEL) {
        return Ok(Flat::Unknown);
    }
    let count_key = format!("{key}.{marker}");
    match m.get(&count_key).map(String::as_str) {
        None => Ok(Flat::Null),
        Some(UNKNOWN_SENTINEL) => Ok(Flat::Unknown),
        Some(s) => {
            let n: usize = s
                .parse()
                .map_err(|_| flat_err(&count_key, format!("invalid count {s:?}")))?;
            if n > m.len() {
                return Err(flat_err(
                    &count_key,
                    format!("count {n} exceeds the number of state entries"),
                ));
            }
            Ok(Flat::Count(n))
        }
    }
}

/// Distinct first path segments under `prefix` (excluding the count
/// marker), ordered numerically when they are numbers so the result is
/// deterministic regardless of hash-map order.
fn flat_children<'a>(m: &'a HashMap<String, String>, prefix: &str, marker: &str) -> Vec<&'a str> {
    let mut ids: Vec<&str> = m
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter(|sub| *sub != marker)
        .map(|sub| sub.split_once('.').map_or(sub, |(id, _)| id))
        .collect();
    ids.sort_by_key(|id| (id.parse::<u64>().ok(), *id));
    ids.dedup();
    ids
}

fn flat_empty(ty: &Type) -> Value {
    match ty {
        Type::Map(_) => Value::Map(BTreeMap::new()),
        Type::List(_) => Value::List(Vec::new()),
        Type::Set(_) => Value::Set(Vec::new()),
        Type::Object(attrs) => {
            Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect())
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    fn flat(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flatmap_examples() {
        let ty = obj(&[
            ("id", Type::String),
            ("port", Type::Number),
            ("enabled", Type::Bool),
            ("missing", Type::String),
            ("names", Type::list(Type::String)),
            ("tags", Type::map(Type::String)),
            ("roles", Type::set(Type::String)),
            (
                "statement",
                Type::list(obj(&[
                    ("sid", Type::String),
                    ("actions", Type::set(Type::String)),
                ])),
            ),
            ("pending", Type::String),
            ("empty", Type::list(Type::String)),
        ]);
        let m = flat(&[
            ("id", "abc"),
            ("port", "5432"),
            ("enabled", "true"),
            ("names.#", "2"),
            ("names.0", "a"),
            ("names.1", "b"),
            ("tags.%", "2"),
            ("tags.env", "prod"),
            ("tags.a.b", "dotted"),
            ("roles.#", "2"),
            ("roles.2937456", "reader"),
            ("roles.1029384", "writer"),
            ("statement.#", "1"),
            ("statement.0.sid", "S1"),
            ("statement.0.actions.#", "1"),
            ("statement.0.actions.99", "rds-db:connect"),
            ("pending", UNKNOWN_SENTINEL),
            ("empty.#", "0"),
        ]);
        let v = decode_flatmap(&m, &ty).unwrap();
        assert_eq!(v.get("id"), &Value::string("abc"));
        assert_eq!(v.get("port"), &Value::int(5432));
        assert_eq!(v.get("enabled"), &Value::bool(true));
        assert_eq!(v.get("missing"), &Value::Null);
        assert_eq!(v.get("names"), &Value::list_of_strings(["a", "b"]));
        assert_eq!(
            v.get("tags"),
            &Value::Map(
                [("env", "prod"), ("a.b", "dotted")]
                    .into_iter()
                    .map(|(k, s)| (k.to_string(), Value::string(s)))
                    .collect()
            )
        );
        // Set elements in hash-index order.
        assert_eq!(
            v.get("roles"),
            &Value::Set(vec![Value::string("writer"), Value::string("reader")])
        );
        assert_eq!(
            v.get("statement"),
            &Value::List(vec![Value::object([
                ("sid", Value::string("S1")),
                ("actions", Value::Set(vec![Value::string("rds-db:connect")])),
            ])])
        );
        assert_eq!(v.get("pending"), &Value::Unknown);
        assert_eq!(v.get("empty"), &Value::List(vec![]));
    }

    #[test]
    fn flatmap_edge_cases() {
        let ty = obj(&[
            ("l", Type::list(Type::Number)),
            ("s", Type::set(obj(&[("a", Type::String)]))),
        ]);
        // Unknown collections, by count or by the bare key.
        let v = decode_flatmap(
            &flat(&[("l.#", UNKNOWN_SENTINEL), ("s", UNKNOWN_SENTINEL)]),
            &ty,
        )
        .unwrap();
        assert_eq!(
            v,
            Value::object([("l", Value::Unknown), ("s", Value::Unknown)])
        );
        // A set of one all-empty object leaves only the count.
        let v = decode_flatmap(&flat(&[("s.#", "1")]), &ty).unwrap();
        assert_eq!(
            v.get("s"),
            &Value::Set(vec![Value::object([("a", Value::Null)])])
        );
        // Bad numbers and counts are errors naming the key.
        let err = decode_flatmap(&flat(&[("l.#", "1"), ("l.0", "x")]), &ty).unwrap_err();
        assert!(err.message.contains("\"l.0\""), "{err}");
        assert!(decode_flatmap(&flat(&[("l.#", "-1")]), &ty).is_err());
        assert!(decode_flatmap(&flat(&[("l.#", "4000000000")]), &ty).is_err());
        assert!(decode_flatmap(&flat(&[]), &Type::String).is_err());
        // Empty map → all null.
        assert_eq!(
            decode_flatmap(&HashMap::new(), &ty).unwrap(),
            Value::object([("l", Value::Null), ("s", Value::Null)])
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_flatmaps_never_panic(
            ty in arb_type(),
            entries in prop::collection::hash_map(
                "[a-z]{1,2}(\\.([0-9#%]|[a-z]){1,2}){0,3}",
                prop_oneof![Just(UNKNOWN_SENTINEL.to_owned()), "[0-9]{1,3}", "[a-z]{0,3}"],
                0..12,
            ),
        ) {
            let _ = decode_flatmap(&entries, &Type::object([("a", ty.clone()), ("b", ty)]));
        }
    }
}
