//! The cty value codec used by Terraform plugin protocol 6.
//!
//! Terraform exchanges configuration, plans and state as cty values encoded
//! in msgpack (`DynamicValue.msgpack`), occasionally as cty JSON
//! (`RawState.json` during state upgrades), and very old SDKv2 states arrive
//! as a flat `map[string]string` ("flatmap"). None of these encodings carry
//! type information except at `dynamic` positions, so every entry point is
//! driven by the schema [`Type`].
//!
//! All input comes from Terraform or from a state file a user may have
//! edited, so nothing here panics on input: malformed bytes, absurd lengths
//! and hostile nesting are reported as a [`ValueError`] naming the path
//! (e.g. `.statement[0].sid`) where that is known.
//!
//! The wire rules follow go-cty's `cty/msgpack` and `cty/json` packages and
//! Terraform's `hcl2shim` flatmap reader.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use rmp::Marker;
use serde_json::Value as Json;

/// Deepest nesting of values (and of types) accepted when decoding or
/// encoding. Real schemas are a handful of levels deep; the limit exists so
/// hostile input cannot overflow the stack through recursion.
pub const MAX_DEPTH: usize = 64;

/// The string SDKv2 wrote into flatmap state for a value not yet known.
pub const UNKNOWN_SENTINEL: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

/// cty's encoding of a wholly unknown value: msgpack fixext1, extension
/// type 0, one zero byte of payload (the most compact extension form).
const UNKNOWN_MSGPACK: [u8; 3] = [0xd4, 0x00, 0x00];

/// 2^63: the exclusive upper bound of `i64` as an `f64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Returned by [`Value::get`] for absent attributes, so callers can chain
/// lookups without handling `Option` at each step.
static NULL: Value = Value::Null;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

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

    fn is_primitive(&self) -> bool {
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

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// A cty number. cty numbers are arbitrary-precision; most fit `i64` or
/// `f64`, and anything else is kept as its decimal text so it survives a
/// round trip through the provider without losing precision.
///
/// Equality is exact numeric equality across variants: `Int(1) ==
/// Float(1.0)`, `Float(0.5) == Big("0.50")`, but `Float(0.1) !=
/// Big("0.1")` because the double nearest 0.1 is not 0.1 (cty, whose
/// numbers are big floats, would also tell them apart).
#[derive(Clone, Debug)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Decimal text (e.g. `"18446744073709551616"`, `"0.1000000000000000000001"`).
    Big(String),
}

impl Number {
    /// The value as `i64` if it is integral and in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) => f64_as_exact_i64(*f),
            Number::Big(s) => parse_decimal(s)?.to_i64(),
        }
    }

    /// The value as `f64`, possibly rounded.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Big(s) => {
                parse_decimal(s)?;
                s.parse().ok()
            }
        }
    }

    /// Canonical form for exact comparison; floats are expanded to their
    /// exact decimal value (at most 767 significant digits, so 800 suffice).
    fn canonical(&self) -> Canon {
        match self {
            Number::Int(i) => parse_decimal(&i.to_string()).map_or(Canon::Unordered, Canon::Finite),
            Number::Float(f) if f.is_nan() => Canon::Unordered,
            Number::Float(f) if f.is_infinite() => {
                if *f > 0.0 {
                    Canon::PosInf
                } else {
                    Canon::NegInf
                }
            }
            Number::Float(f) => {
                parse_decimal(&format!("{f:.800e}")).map_or(Canon::Unordered, Canon::Finite)
            }
            Number::Big(s) => parse_decimal(s).map_or(Canon::Unordered, Canon::Finite),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                f64_as_exact_i64(*f) == Some(*i)
            }
            (Number::Big(a), Number::Big(b)) if a == b => true,
            _ => match (self.canonical(), other.canonical()) {
                (Canon::Finite(a), Canon::Finite(b)) => a == b,
                (Canon::PosInf, Canon::PosInf) | (Canon::NegInf, Canon::NegInf) => true,
                _ => false,
            },
        }
    }
}

/// Decimal text for a number, as cty's number-to-string conversion would
/// write it (no exponent for ordinary magnitudes).
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) if x.is_nan() => f.write_str("NaN"),
            Number::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(s) => match parse_decimal(s) {
                Some(d) => f.write_str(&d.to_text()),
                None => f.write_str(s),
            },
        }
    }
}

/// Parses decimal text (optionally signed, with fraction and exponent) the
/// way cty's `ParseNumberVal` does: `Int` when it fits `i64`, else `Big`.
impl FromStr for Number {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Number, ValueError> {
        let d = parse_decimal(s)
            .ok_or_else(|| ValueError::new(format!("{s:?} is not a valid number")))?;
        Ok(match d.to_i64() {
            Some(i) => Number::Int(i),
            None => Number::Big(d.to_text()),
        })
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::Int(i)
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Number {
        Number::Float(f)
    }
}

fn f64_as_exact_i64(f: f64) -> Option<i64> {
    if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

enum Canon {
    Finite(Decimal),
    PosInf,
    NegInf,
    /// NaN or unparseable text: equal to nothing.
    Unordered,
}

/// An exact decimal: `digits × 10^exp`, normalised so equal numbers have
/// equal representations (no leading/trailing zeros; zero is unsigned).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    /// Digit values 0..=9.
    digits: Vec<u8>,
    exp: i64,
}

/// Exponents beyond this are rejected rather than risk arithmetic overflow;
/// cty's big.Float cannot represent them either.
const MAX_DECIMAL_EXPONENT: i64 = 1_000_000_000;

fn parse_decimal(s: &str) -> Option<Decimal> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    match b.first() {
        Some(b'-') => {
            neg = true;
            i = 1;
        }
        Some(b'+') => i = 1,
        _ => {}
    }
    let mut digits = Vec::new();
    let mut exp: i64 = 0;
    let mut any_digit = false;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        digits.push(c - b'0');
        any_digit = true;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            digits.push(c - b'0');
            exp = exp.checked_sub(1)?;
            any_digit = true;
            i += 1;
        }
    }
    if !any_digit {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let mut exp_neg = false;
        match b.get(i) {
            Some(b'-') => {
                exp_neg = true;
                i += 1;
            }
            Some(b'+') => i += 1,
            _ => {}
        }
        let start = i;
        let mut e: i64 = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            e = e.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            if e > MAX_DECIMAL_EXPONENT {
                return None;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        exp = exp.checked_add(if exp_neg { -e } else { e })?;
    }
    if i != b.len() {
        return None;
    }
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    while digits.last() == Some(&0) {
        digits.pop();
        exp = exp.checked_add(1)?;
    }
    if digits.is_empty() {
        return Some(Decimal {
            neg: false,
            digits,
            exp: 0,
        });
    }
    Some(Decimal { neg, digits, exp })
}

impl Decimal {
    fn to_i64(&self) -> Option<i64> {
        if self.digits.is_empty() {
            return Some(0);
        }
        if self.exp < 0 {
            return None;
        }
        let len = i64::try_from(self.digits.len()).ok()?;
        if len.checked_add(self.exp)? > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for d in &self.digits {
            v = v * 10 + i128::from(*d);
        }
        for _ in 0..self.exp {
            v *= 10;
        }
        i64::try_from(if self.neg { -v } else { v }).ok()
    }

    /// Valid JSON-number text: plain decimal for ordinary magnitudes,
    /// scientific notation only for extreme exponents.
    fn to_text(&self) -> String {
        const PLAIN: i64 = 64;
        if self.digits.is_empty() {
            return "0".to_owned();
        }
        let digit = |d: &u8| char::from(b'0' + (*d % 10));
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        let len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX);
        // Number of digits before the decimal point (may be <= 0).
        let point = len.saturating_add(self.exp);
        if self.exp >= 0 && point <= PLAIN {
            s.extend(self.digits.iter().map(digit));
            s.extend((0..self.exp).map(|_| '0'));
        } else if self.exp < 0 && point > 0 {
            for (i, d) in self.digits.iter().enumerate() {
                if i64::try_from(i).ok() == Some(point) {
                    s.push('.');
                }
                s.push(digit(d));
            }
        } else if self.exp < 0 && point > -PLAIN {
            s.push_str("0.");
            s.extend((point..0).map(|_| '0'));
            s.extend(self.digits.iter().map(digit));
        } else {
            let mut it = self.digits.iter();
            if let Some(first) = it.next() {
                s.push(digit(first));
            }
            if it.len() > 0 {
                s.push('.');
                s.extend(it.map(digit));
            }
            let _ = write!(s, "e{}", point.saturating_sub(1));
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// A cty value without its type: the schema supplies the type when
/// encoding and decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Elements in the order received; cty itself orders sets on its side.
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when no `Unknown` appears anywhere inside: only such values can
    /// be stored in state or encoded as JSON.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// Attribute of an object (or element of a map); `Null` when absent or
    /// when `self` is not an object/map, so lookups chain without `Option`.
    pub fn get(&self, attr: &str) -> &Value {
        match self {
            Value::Object(m) | Value::Map(m) => m.get(attr).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Integral numbers that fit `i64` (including integral floats and
    /// parseable big decimals).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    /// Elements of a list, set or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a map or attributes of an object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    pub fn bool(b: bool) -> Value {
        Value::Bool(b)
    }

    pub fn object<I, K>(i: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(i.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A `List` of strings; also accepted where the schema says set.
    pub fn list_of_strings<I, S>(i: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::List(i.into_iter().map(|s| Value::String(s.into())).collect())
    }

    /// The type to announce when this value sits at a `dynamic` position.
    /// `Null`/`Unknown` give `Dynamic`; collection element types are unified
    /// across elements (nulls adopt their siblings' type) and fall back to
    /// `Dynamic` when elements genuinely disagree, so every element is then
    /// written with its own type.
    pub fn infer_type(&self) -> Type {
        infer(self).into_type()
    }

    /// Sets an attribute on an object; does nothing for other values.
    pub fn set_attr(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_owned(), v);
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "unknown",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
        }
    }
}

/// Type inference lattice: `Unset` (null/unknown, adopts anything) is
/// distinct from `Mixed` (conflicting elements), which must stay dynamic.
#[derive(Clone, PartialEq)]
enum Inferred {
    Unset,
    Mixed,
    Bool,
    Number,
    String,
    List(Box<Inferred>),
    Set(Box<Inferred>),
    Map(Box<Inferred>),
    Object(BTreeMap<String, Inferred>),
    Tuple(Vec<Inferred>),
}

impl Inferred {
    fn into_type(self) -> Type {
        match self {
            Inferred::Unset | Inferred::Mixed => Type::Dynamic,
            Inferred::Bool => Type::Bool,
            Inferred::Number => Type::Number,
            Inferred::String => Type::String,
            Inferred::List(t) => Type::List(Box::new(t.into_type())),
            Inferred::Set(t) => Type::Set(Box::new(t.into_type())),
            Inferred::Map(t) => Type::Map(Box::new(t.into_type())),
            Inferred::Object(m) => {
                Type::Object(m.into_iter().map(|(k, t)| (k, t.into_type())).collect())
            }
            Inferred::Tuple(v) => Type::Tuple(v.into_iter().map(Inferred::into_type).collect()),
        }
    }
}

fn infer(v: &Value) -> Inferred {
    match v {
        Value::Null | Value::Unknown => Inferred::Unset,
        Value::Bool(_) => Inferred::Bool,
        Value::Number(_) => Inferred::Number,
        Value::String(_) => Inferred::String,
        Value::List(items) => Inferred::List(Box::new(infer_elements(items.iter()))),
        Value::Set(items) => Inferred::Set(Box::new(infer_elements(items.iter()))),
        Value::Map(m) => Inferred::Map(Box::new(infer_elements(m.values()))),
        Value::Object(m) => {
            Inferred::Object(m.iter().map(|(k, v)| (k.clone(), infer(v))).collect())
        }
        Value::Tuple(items) => Inferred::Tuple(items.iter().map(infer).collect()),
    }
}

fn infer_elements<'a>(items: impl Iterator<Item = &'a Value>) -> Inferred {
    items.fold(Inferred::Unset, |acc, v| unify(acc, infer(v)))
}

fn unify(a: Inferred, b: Inferred) -> Inferred {
    match (a, b) {
        (Inferred::Mixed, _) | (_, Inferred::Mixed) => Inferred::Mixed,
        (Inferred::Unset, t) | (t, Inferred::Unset) => t,
        (Inferred::List(x), Inferred::List(y)) => Inferred::List(Box::new(unify(*x, *y))),
        (Inferred::Set(x), Inferred::Set(y)) => Inferred::Set(Box::new(unify(*x, *y))),
        (Inferred::Map(x), Inferred::Map(y)) => Inferred::Map(Box::new(unify(*x, *y))),
        (Inferred::Object(x), Inferred::Object(y))
            if x.len() == y.len() && x.keys().all(|k| y.contains_key(k)) =>
        {
            let mut y = y;
            Inferred::Object(
                x.into_iter()
                    .map(|(k, t)| {
                        let other = y.remove(&k).unwrap_or(Inferred::Unset);
                        (k, unify(t, other))
                    })
                    .collect(),
            )
        }
        (Inferred::Tuple(x), Inferred::Tuple(y)) if x.len() == y.len() => {
            Inferred::Tuple(x.into_iter().zip(y).map(|(a, b)| unify(a, b)).collect())
        }
        (a, b) if a == b => a,
        _ => Inferred::Mixed,
    }
}

// ---------------------------------------------------------------------------
// Errors and paths
// ---------------------------------------------------------------------------

/// A value could not be encoded or decoded. The message starts with the
/// path to the offending value (e.g. `.statement[0].sid: string is
/// required, found number`) so diagnostics point at the attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub message: String,
}

impl ValueError {
    pub fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

/// The current position while walking a value, rendered only on error.
/// Steps are pushed before descending and truncated afterwards.
#[derive(Default)]
struct Path(String);

impl Path {
    /// Pushes `.name` (or `["name"]` if it is not identifier-like).
    fn attr(&mut self, name: &str) -> usize {
        let mark = self.0.len();
        let mut chars = name.chars();
        let ident = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ident {
            self.0.push('.');
            self.0.push_str(name);
        } else {
            let _ = write!(self.0, "[{name:?}]");
        }
        mark
    }

    fn index(&mut self, i: usize) -> usize {
        let mark = self.0.len();
        let _ = write!(self.0, "[{i}]");
        mark
    }

    fn key(&mut self, k: &str) -> usize {
        let mark = self.0.len();
        let _ = write!(self.0, "[{k:?}]");
        mark
    }

    fn restore(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    fn err(&self, msg: impl fmt::Display) -> ValueError {
        if self.0.is_empty() {
            ValueError::new(msg.to_string())
        } else {
            ValueError::new(format!("{}: {msg}", self.0))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), ValueError> {
        if depth > MAX_DEPTH {
            Err(self.err(format!("nesting exceeds {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn mismatch(&self, expected: &str, found: &Value) -> ValueError {
        self.err(format!("{expected} is required, found {}", found.kind()))
    }
}

// ---------------------------------------------------------------------------
// Lenient primitive conversions (mirroring cty's `convert` package)
// ---------------------------------------------------------------------------

/// cty converts strings to bools only for these four spellings.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn coerce_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

fn coerce_number(v: &Value) -> Option<Cow<'_, Number>> {
    match v {
        Value::Number(n) => Some(Cow::Borrowed(n)),
        Value::String(s) => s.parse().ok().map(Cow::Owned),
        _ => None,
    }
}

fn coerce_string(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// Converts state/config text to a primitive of the given type.
fn primitive_from_str(s: &str, ty: &Type) -> Result<Value, String> {
    match ty {
        Type::Bool => parse_bool(s)
            .map(Value::Bool)
            .ok_or_else(|| format!("a bool is required, found {s:?}")),
        Type::Number => s
            .parse()
            .map(Value::Number)
            .map_err(|_| format!("a number is required, found {s:?}")),
        _ => Ok(Value::String(s.to_owned())),
    }
}

// ---------------------------------------------------------------------------
// msgpack encoding
// ---------------------------------------------------------------------------

/// Encodes `v` as cty msgpack for schema type `ty` (what Terraform expects
/// in `DynamicValue.msgpack`). Primitives are converted the way cty would
/// (e.g. `"true"` for a bool); list, set and tuple values are
/// interchangeable, as are map and object values. Object attributes absent
/// from `v` are written as null; attributes not in the type are an error.
pub fn encode_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    mp_encode(&mut out, v, ty, &mut Path::default(), 0)?;
    Ok(out)
}

fn mp_write<T, E: fmt::Display>(path: &Path, r: Result<T, E>) -> Result<(), ValueError> {
    r.map(|_| ())
        .map_err(|e| path.err(format!("msgpack write failed: {e}")))
}

fn len_u32(len: usize, path: &Path) -> Result<u32, ValueError> {
    u32::try_from(len).map_err(|_| path.err("collection too large for msgpack"))
}

fn mp_encode(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    path: &mut Path,
    depth: usize,
) -> Result<(), ValueError> {
    use rmp::encode as enc;
    path.check_depth(depth)?;
    match v {
        // cty writes nulls as nil and unknowns as the ext-0 marker at every
        // position, dynamic included (our values carry no type to wrap).
        Value::Null => return mp_write(path, enc::write_nil(out)),
        Value::Unknown => {
            out.extend_from_slice(&UNKNOWN_MSGPACK);
            return Ok(());
        }
        _ => {}
    }
    match ty {
        Type::Dynamic => {
            // cty/msgpack/dynamic.go: [type JSON as bin, value].
            let concrete = v.infer_type();
            mp_write(path, enc::write_array_len(out, 2))?;
            mp_write(path, enc::write_bin(out, &concrete.to_json_bytes()))?;
            mp_encode(out, v, &concrete, path, depth + 1)
        }
        Type::Bool => {
            let b = coerce_bool(v).ok_or_else(|| path.mismatch("bool", v))?;
            mp_write(path, enc::write_bool(out, b))
        }
        Type::Number => {
            let n = coerce_number(v).ok_or_else(|| path.mismatch("number", v))?;
            mp_encode_number(out, &n, path)
        }
        Type::String => {
            let s = coerce_string(v).ok_or_else(|| path.mismatch("string", v))?;
            mp_write(path, enc::write_str(out, &s))
        }
        Type::List(et) | Type::Set(et) => {
            let what = if matches!(ty, Type::Set(_)) {
                "set"
            } else {
                "list"
            };
            let items = v.as_list().ok_or_else(|| path.mismatch(what, v))?;
            mp_write(path, enc::write_array_len(out, len_u32(items.len(), path)?))?;
            for (i, item) in items.iter().enumerate() {
                let mark = path.index(i);
                mp_encode(out, item, et, path, depth + 1)?;
                path.restore(mark);
            }
            Ok(())
        }
        Type::Tuple(ets) => {
            let items = v.as_list().ok_or_else(|| path.mismatch("tuple", v))?;
            if items.len() != ets.len() {
                return Err(path.err(format!(
                    "a tuple of length {} is required, found {}",
                    ets.len(),
                    items.len()
                )));
            }
            mp_write(path, enc::write_array_len(out, len_u32(items.len(), path)?))?;
            for (i, (item, et)) in items.iter().zip(ets).enumerate() {
                let mark = path.index(i);
                mp_encode(out, item, et, path, depth + 1)?;
                path.restore(mark);
            }
            Ok(())
        }
        Type::Map(et) => {
            let m = v.as_map().ok_or_else(|| path.mismatch("map", v))?;
            mp_write(path, enc::write_map_len(out, len_u32(m.len(), path)?))?;
            for (k, item) in m {
                mp_write(path, enc::write_str(out, k))?;
                let mark = path.key(k);
                mp_encode(out, item, et, path, depth + 1)?;
                path.restore(mark);
            }
            Ok(())
        }
        Type::Object(attrs) => {
            let m = v.as_map().ok_or_else(|| path.mismatch("object", v))?;
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(path.err(format!("unsupported attribute {extra:?}")));
            }
            // BTreeMap iteration is sorted, matching cty's sorted attribute order.
            mp_write(path, enc::write_map_len(out, len_u32(attrs.len(), path)?))?;
            for (name, aty) in attrs {
                mp_write(path, enc::write_str(out, name))?;
                let mark = path.attr(name);
                mp_encode(out, m.get(name).unwrap_or(&NULL), aty, path, depth + 1)?;
                path.restore(mark);
            }
            Ok(())
        }
    }
}

/// cty/msgpack/marshal.go: int when integral and within int64, else
/// float64 (infinities included), else the decimal text as a string.
/// `Big` values never go through float64, which could lose precision.
fn mp_encode_number(out: &mut Vec<u8>, n: &Number, path: &Path) -> Result<(), ValueError> {
    use rmp::encode as enc;
    match n {
        Number::Int(i) => mp_write(path, enc::write_sint(out, *i)),
        Number::Float(f) if f.is_nan() => Err(path.err("NaN is not a valid number")),
        Number::Float(f) => match f64_as_exact_i64(*f) {
            Some(i) => mp_write(path, enc::write_sint(out, i)),
            None => mp_write(path, enc::write_f64(out, *f)),
        },
        Number::Big(s) => {
            let d = parse_decimal(s).ok_or_else(|| path.err(format!("invalid number {s:?}")))?;
            match d.to_i64() {
                Some(i) => mp_write(path, enc::write_sint(out, i)),
                None => mp_write(path, enc::write_str(out, &d.to_text())),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// msgpack decoding
// ---------------------------------------------------------------------------

/// Decodes cty msgpack for schema type `ty`.
///
/// Any msgpack extension value means "unknown" (cty uses type 0, and type
/// 12 with a refinement map; refinements are dropped). Object attributes
/// missing from the input decode as null; unexpected attributes are an
/// error. Trailing bytes after the value are rejected as corruption.
pub fn decode_msgpack(b: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let mut r = Reader { buf: b, pos: 0 };
    let v = mp_decode(&mut r, ty, &mut Path::default(), 0)?;
    match r.remaining() {
        0 => Ok(v),
        n => Err(ValueError::new(format!(
            "{n} unexpected trailing bytes after msgpack value"
        ))),
    }
}

/// One msgpack item's header (and body, for scalars and strings).
enum Token<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    /// Only for values above `i64::MAX`.
    Uint(u64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    /// Any extension; its payload has been skipped.
    Ext,
}

impl Token<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Token::Nil => "nil",
            Token::Bool(_) => "bool",
            Token::Int(_) | Token::Uint(_) | Token::Float(_) => "number",
            Token::Str(_) => "string",
            Token::Bin(_) => "binary",
            Token::Array(_) => "array",
            Token::Map(_) => "map",
            Token::Ext => "unknown value",
        }
    }
}

const EOF: &str = "unexpected end of msgpack data";

/// A bounds-checked cursor: every read returns `None` past the end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N).and_then(|s| s.try_into().ok()).ok_or(EOF)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<usize, &'static str> {
        self.array().map(|b| usize::from(u16::from_be_bytes(b)))
    }

    fn u32(&mut self) -> Result<usize, &'static str> {
        let n = u32::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| "msgpack length exceeds address space")
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        self.take(n).ok_or(EOF)
    }

    /// Skips an extension's type byte and `n` payload bytes.
    fn skip_ext(&mut self, n: usize) -> Result<Token<'a>, &'static str> {
        self.bytes(n.checked_add(1).ok_or(EOF)?)?;
        Ok(Token::Ext)
    }

    fn token(&mut self) -> Result<Token<'a>, &'static str> {
        Ok(match Marker::from_u8(self.u8()?) {
            Marker::FixPos(n) => Token::Int(i64::from(n)),
            Marker::FixNeg(n) => Token::Int(i64::from(n)),
            Marker::Null => Token::Nil,
            Marker::True => Token::Bool(true),
            Marker::False => Token::Bool(false),
            Marker::U8 => Token::Int(i64::from(self.u8()?)),
            Marker::U16 => Token::Int(i64::from(u16::from_be_bytes(self.array()?))),
            Marker::U32 => Token::Int(i64::from(u32::from_be_bytes(self.array()?))),
            Marker::U64 => {
                let u = u64::from_be_bytes(self.array()?);
                i64::try_from(u).map_or(Token::Uint(u), Token::Int)
            }
            Marker::I8 => Token::Int(i64::from(i8::from_be_bytes(self.array()?))),
            Marker::I16 => Token::Int(i64::from(i16::from_be_bytes(self.array()?))),
            Marker::I32 => Token::Int(i64::from(i32::from_be_bytes(self.array()?))),
            Marker::I64 => Token::Int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => Token::Float(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => Token::Float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => Token::Str(self.bytes(usize::from(n))?),
            Marker::Str8 => {
                let n = usize::from(self.u8()?);
                Token::Str(self.bytes(n)?)
            }
            Marker::Str16 => {
                let n = self.u16()?;
                Token::Str(self.bytes(n)?)
            }
            Marker::Str32 => {
                let n = self.u32()?;
                Token::Str(self.bytes(n)?)
            }
            Marker::Bin8 => {
                let n = usize::from(self.u8()?);
                Token::Bin(self.bytes(n)?)
            }
            Marker::Bin16 => {
                let n = self.u16()?;
                Token::Bin(self.bytes(n)?)
            }
            Marker::Bin32 => {
                let n = self.u32()?;
                Token::Bin(self.bytes(n)?)
            }
            Marker::FixArray(n) => Token::Array(usize::from(n)),
            Marker::Array16 => Token::Array(self.u16()?),
            Marker::Array32 => Token::Array(self.u32()?),
            Marker::FixMap(n) => Token::Map(usize::from(n)),
            Marker::Map16 => Token::Map(self.u16()?),
            Marker::Map32 => Token::Map(self.u32()?),
            Marker::FixExt1 => self.skip_ext(1)?,
            Marker::FixExt2 => self.skip_ext(2)?,
            Marker::FixExt4 => self.skip_ext(4)?,
            Marker::FixExt8 => self.skip_ext(8)?,
            Marker::FixExt16 => self.skip_ext(16)?,
            Marker::Ext8 => {
                let n = usize::from(self.u8()?);
                self.skip_ext(n)?
            }
            Marker::Ext16 => {
                let n = self.u16()?;
                self.skip_ext(n)?
            }
            Marker::Ext32 => {
                let n = self.u32()?;
                self.skip_ext(n)?
            }
            Marker::Reserved => return Err("invalid msgpack marker 0xc1"),
        })
    }
}

fn utf8<'a>(b: &'a [u8], path: &Path) -> Result<&'a str, ValueError> {
    std::str::from_utf8(b).map_err(|_| path.err("string is not valid UTF-8"))
}

fn mp_decode(
    r: &mut Reader<'_>,
    ty: &Type,
    path: &mut Path,
    depth: usize,
) -> Result<Value, ValueError> {
    path.check_depth(depth)?;
    let tok = r.token().map_err(|e| path.err(e))?;
    // As in cty/msgpack/unmarshal.go: extensions are unknowns and nil is
    // null, whatever the type (dynamic included).
    match tok {
        Token::Ext => return Ok(Value::Unknown),
        Token::Nil => return Ok(Value::Null),
        _ => {}
    }
    let mismatch = |path: &Path, what: &str, tok: &Token<'_>| {
        path.err(format!("{what} is required, found {}", tok.describe()))
    };
    match ty {
        Type::Dynamic => {
            if !matches!(tok, Token::Array(2)) {
                return Err(mismatch(
                    path,
                    "a [type, value] array for a dynamic value",
                    &tok,
                ));
            }
            let type_json = match r.token().map_err(|e| path.err(e))? {
                Token::Bin(b) | Token::Str(b) => b,
                other => return Err(mismatch(path, "dynamic value type JSON", &other)),
            };
            let concrete = Type::from_json_bytes(type_json)
                .map_err(|e| path.err(format!("dynamic value type: {e}")))?;
            mp_decode(r, &concrete, path, depth + 1)
        }
        Type::Bool => match tok {
            Token::Bool(b) => Ok(Value::Bool(b)),
            other => Err(mismatch(path, "bool", &other)),
        },
        Type::Number => match tok {
            Token::Int(i) => Ok(Value::Number(Number::Int(i))),
            Token::Uint(u) => Ok(Value::Number(Number::Big(u.to_string()))),
            Token::Float(f) if f.is_nan() => Err(path.err("NaN is not a valid number")),
            Token::Float(f) => Ok(Value::Number(Number::Float(f))),
            // cty falls back to decimal text for numbers beyond float64.
            Token::Str(b) | Token::Bin(b) => utf8(b, path)?
                .parse()
                .map(Value::Number)
                .map_err(|e: ValueError| path.err(e.message)),
            other => Err(mismatch(path, "number", &other)),
        },
        Type::String => match tok {
            Token::Str(b) | Token::Bin(b) => Ok(Value::String(utf8(b, path)?.to_owned())),
            other => Err(mismatch(path, "string", &other)),
        },
        Type::List(et) | Type::Set(et) => {
            let Token::Array(n) = tok else {
                let what = if matches!(ty, Type::Set(_)) {
                    "set"
                } else {
                    "list"
                };
                return Err(mismatch(path, what, &tok));
            };
            // Every element takes at least one byte: never trust `n` for
            // the allocation.
            let mut items = Vec::with_capacity(n.min(r.remaining()));
            for i in 0..n {
                let mark = path.index(i);
                items.push(mp_decode(r, et, path, depth + 1)?);
                path.restore(mark);
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(items)
            } else {
                Value::List(items)
            })
        }
        Type::Tuple(ets) => {
            let Token::Array(n) = tok else {
                return Err(mismatch(path, "tuple", &tok));
            };
            if n != ets.len() {
                return Err(path.err(format!(
                    "a tuple of length {} is required, found {n}",
                    ets.len()
                )));
            }
            let mut items = Vec::with_capacity(n);
            for (i, et) in ets.iter().enumerate() {
                let mark = path.index(i);
                items.push(mp_decode(r, et, path, depth + 1)?);
                path.restore(mark);
            }
            Ok(Value::Tuple(items))
        }
        Type::Map(et) => {
            let Token::Map(n) = tok else {
                return Err(mismatch(path, "map", &tok));
            };
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let key = mp_key(r, path)?;
                let mark = path.key(key);
                let v = mp_decode(r, et, path, depth + 1)?;
                path.restore(mark);
                m.insert(key.to_owned(), v);
            }
            Ok(Value::Map(m))
        }
        Type::Object(attrs) => {
            let Token::Map(n) = tok else {
                return Err(mismatch(path, "object", &tok));
            };
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let key = mp_key(r, path)?;
                let Some(aty) = attrs.get(key) else {
                    return Err(path.err(format!("unsupported attribute {key:?}")));
                };
                let mark = path.attr(key);
                let v = mp_decode(r, aty, path, depth + 1)?;
                path.restore(mark);
                m.insert(key.to_owned(), v);
            }
            // Lenient where cty is strict: absent attributes are null.
            for name in attrs.keys() {
                if !m.contains_key(name) {
                    m.insert(name.clone(), Value::Null);
                }
            }
            Ok(Value::Object(m))
        }
    }
}

fn mp_key<'a>(r: &mut Reader<'a>, path: &Path) -> Result<&'a str, ValueError> {
    match r.token().map_err(|e| path.err(e))? {
        Token::Str(b) | Token::Bin(b) => utf8(b, path),
        other => Err(path.err(format!(
            "map keys must be strings, found {}",
            other.describe()
        ))),
    }
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// Encodes `v` in cty's JSON value encoding for type `ty`. Dynamic values
/// are wrapped as `{"value": ..., "type": ...}`. Unknown values cannot be
/// represented and are an error. Conversions follow [`encode_msgpack`].
pub fn encode_json(v: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    json_encode(&mut out, v, ty, &mut Path::default(), 0)?;
    Ok(out)
}

fn json_string(out: &mut Vec<u8>, s: &str, path: &Path) -> Result<(), ValueError> {
    serde_json::to_writer(&mut *out, s).map_err(|e| path.err(format!("JSON write failed: {e}")))
}

fn json_encode(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    path: &mut Path,
    depth: usize,
) -> Result<(), ValueError> {
    path.check_depth(depth)?;
    match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        Value::Unknown => return Err(path.err("unknown values cannot be encoded as JSON")),
        _ => {}
    }
    match ty {
        Type::Dynamic => {
            let concrete = v.infer_type();
            out.extend_from_slice(br#"{"value":"#);
            json_encode(out, v, &concrete, path, depth + 1)?;
            out.extend_from_slice(br#","type":"#);
            out.extend_from_slice(&concrete.to_json_bytes());
            out.push(b'}');
            Ok(())
        }
        Type::Bool => {
            let b = coerce_bool(v).ok_or_else(|| path.mismatch("bool", v))?;
            out.extend_from_slice(if b { b"true" } else { b"false" });
            Ok(())
        }
        Type::Number => {
            let n = coerce_number(v).ok_or_else(|| path.mismatch("number", v))?;
            let text = match &*n {
                Number::Int(i) => i.to_string(),
                Number::Float(f) => {
                    match (f64_as_exact_i64(*f), serde_json::Number::from_f64(*f)) {
                        (Some(i), _) => i.to_string(),
                        (None, Some(jn)) => jn.to_string(),
                        (None, None) => {
                            return Err(path.err(format!("{n} cannot be encoded as JSON")));
                        }
                    }
                }
                Number::Big(s) => parse_decimal(s)
                    .ok_or_else(|| path.err(format!("invalid number {s:?}")))?
                    .to_text(),
            };
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        Type::String => {
            let s = coerce_string(v).ok_or_else(|| path.mismatch("string", v))?;
            json_string(out, &s, path)
        }
        Type::List(_) | Type::Set(_) | Type::Tuple(_) => {
            let items = v.as_list().ok_or_else(|| path.mismatch("list", v))?;
            let elem_type = |i: usize| match ty {
                Type::List(et) | Type::Set(et) => Some(&**et),
                Type::Tuple(ets) => ets.get(i),
                _ => None,
            };
            if let Type::Tuple(ets) = ty
                && ets.len() != items.len()
            {
                return Err(path.err(format!(
                    "a tuple of length {} is required, found {}",
                    ets.len(),
                    items.len()
                )));
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let ety = elem_type(i).unwrap_or(&Type::Dynamic);
                let mark = path.index(i);
                json_encode(out, item, ety, path, depth + 1)?;
                path.restore(mark);
            }
            out.push(b']');
            Ok(())
        }
        Type::Map(et) => {
            let m = v.as_map().ok_or_else(|| path.mismatch("map", v))?;
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, k, path)?;
                out.push(b':');
                let mark = path.key(k);
                json_encode(out, item, et, path, depth + 1)?;
                path.restore(mark);
            }
            out.push(b'}');
            Ok(())
        }
        Type::Object(attrs) => {
            let m = v.as_map().ok_or_else(|| path.mismatch("object", v))?;
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(path.err(format!("unsupported attribute {extra:?}")));
            }
            out.push(b'{');
            for (i, (name, aty)) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, name, path)?;
                out.push(b':');
                let mark = path.attr(name);
                json_encode(out, m.get(name).unwrap_or(&NULL), aty, path, depth + 1)?;
                path.restore(mark);
            }
            out.push(b'}');
            Ok(())
        }
    }
}

/// Decodes cty's JSON value encoding for type `ty` (as in
/// `UpgradeResourceState`'s `raw_state.json`).
///
/// Object attributes missing from the JSON decode as null, and attributes
/// the type does not know are *ignored* (cty would reject them): raw state
/// was written under an older schema version, and attributes that schema
/// had but the current one dropped must not make the upgrade fail.
/// Primitives accept cty's string conversions (`"12"` for a number, `"true"`
/// for a bool, numbers and bools for a string). Numbers are `Int` when they
/// fit `i64`, `Float` when the literal's value is exactly an `f64` (`0.5`),
/// and otherwise `Big` with the literal's digits (`0.1`, `1e400`): that is
/// how cty reads the literal, so re-encoding to msgpack loses nothing.
pub fn decode_json(b: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let j = parse_json(b)?;
    json_decode(&j, ty, &mut Path::default(), 0)
}

/// A parsed JSON document that keeps number literals as text.
///
/// We parse JSON ourselves rather than through `serde_json::Value` because
/// without its optional features serde_json rounds some float literals to
/// a neighbouring `f64` and rejects literals beyond `f64` range (`1e400`),
/// both of which cty handles exactly.
enum Jv<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Jv<'a>>),
    /// Entries in document order; for duplicate keys the last one wins.
    Obj(Vec<(Cow<'a, str>, Jv<'a>)>),
}

impl Jv<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Jv::Null => "null",
            Jv::Bool(_) => "bool",
            Jv::Num(_) => "number",
            Jv::Str(_) => "string",
            Jv::Arr(_) => "array",
            Jv::Obj(_) => "object",
        }
    }

    /// For handing type descriptions to [`Type::from_json`].
    fn to_serde(&self) -> Json {
        match self {
            Jv::Null => Json::Null,
            Jv::Bool(b) => Json::Bool(*b),
            Jv::Num(n) => n.parse().map_or(Json::Null, Json::Number),
            Jv::Str(s) => Json::String(s.to_string()),
            Jv::Arr(items) => Json::Array(items.iter().map(Jv::to_serde).collect()),
            Jv::Obj(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_serde()))
                    .collect(),
            ),
        }
    }
}

/// JSON nesting allowed by the parser; dynamic wrappers add a level per
/// value level, so this is looser than [`MAX_DEPTH`], which the decoder
/// then enforces on values.
const JSON_MAX_DEPTH: usize = 4 * MAX_DEPTH;

fn parse_json(b: &[u8]) -> Result<Jv<'_>, ValueError> {
    let s = std::str::from_utf8(b).map_err(|_| ValueError::new("invalid JSON: not UTF-8"))?;
    let mut p = JsonParser { s, pos: 0 };
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != s.len() {
        return Err(p.err("trailing characters after JSON value"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> JsonParser<'a> {
    fn err(&self, msg: &str) -> ValueError {
        ValueError::new(format!("invalid JSON at byte {}: {msg}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_byte(&mut self, c: u8) -> Result<(), ValueError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", char::from(c))))
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), ValueError> {
        if self
            .s
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Jv<'a>, ValueError> {
        if depth > JSON_MAX_DEPTH {
            return Err(self.err(&format!("nesting exceeds {JSON_MAX_DEPTH} levels")));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') => self.literal("null").map(|()| Jv::Null),
            Some(b't') => self.literal("true").map(|()| Jv::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Jv::Bool(false)),
            Some(b'"') => self.string().map(Jv::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Jv::Num),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.eat(b']') {
                    return Ok(Jv::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.expect_byte(b']')?;
                        return Ok(Jv::Arr(items));
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.eat(b'}') {
                    return Ok(Jv::Obj(entries));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected object key"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    self.expect_byte(b':')?;
                    entries.push((key, self.value(depth + 1)?));
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.expect_byte(b'}')?;
                        return Ok(Jv::Obj(entries));
                    }
                }
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// RFC 8259 number grammar; the text is returned unparsed.
    fn number(&mut self) -> Result<&'a str, ValueError> {
        let start = self.pos;
        self.eat(b'-');
        if !self.eat(b'0') && !self.digits() {
            return Err(self.err("invalid number"));
        }
        if self.eat(b'.') && !self.digits() {
            return Err(self.err("invalid number fraction"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return Err(self.err("invalid number exponent"));
            }
        }
        self.s
            .get(start..self.pos)
            .ok_or_else(|| self.err("invalid number"))
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let digits = self
            .s
            .get(self.pos..self.pos.saturating_add(4))
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(code)
    }

    /// A string literal; borrowed when it has no escapes. Lone UTF-16
    /// surrogates become U+FFFD, as Go's encoding/json does.
    fn string(&mut self) -> Result<Cow<'a, str>, ValueError> {
        self.expect_byte(b'"')?;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let s = self
                        .s
                        .get(start..self.pos)
                        .ok_or_else(|| self.err("bad string"))?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = self
            .s
            .get(start..self.pos)
            .ok_or_else(|| self.err("bad string"))?
            .to_owned();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let mut code = hi;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.pos..).is_some_and(|r| r.starts_with("\\u"))
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => {
                    let ch = self
                        .s
                        .get(self.pos..)
                        .and_then(|r| r.chars().next())
                        .ok_or_else(|| self.err("bad string"))?;
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }
}

/// Int when the literal fits `i64`; Float when its value is exactly an
/// `f64`; Big otherwise.
fn number_from_literal(text: &str) -> Result<Number, String> {
    let d = parse_decimal(text).ok_or_else(|| format!("{text:?} is not a valid number"))?;
    if let Some(i) = d.to_i64() {
        return Ok(Number::Int(i));
    }
    if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && Number::Float(f) == Number::Big(text.to_owned())
    {
        return Ok(Number::Float(f));
    }
    Ok(Number::Big(d.to_text()))
}

fn json_decode(j: &Jv<'_>, ty: &Type, path: &mut Path, depth: usize) -> Result<Value, ValueError> {
    path.check_depth(depth)?;
    if matches!(j, Jv::Null) {
        return Ok(Value::Null);
    }
    let mismatch =
        |path: &Path, what: &str| path.err(format!("{what} is required, found {}", j.kind()));
    match ty {
        Type::Dynamic => {
            let Jv::Obj(entries) = j else {
                return Err(mismatch(
                    path,
                    "a {\"value\", \"type\"} object for a dynamic value",
                ));
            };
            let (mut concrete, mut value) = (None, None);
            for (k, x) in entries {
                match k.as_ref() {
                    "type" => {
                        concrete = Some(
                            Type::from_json(&x.to_serde())
                                .map_err(|e| path.err(format!("dynamic value type: {e}")))?,
                        );
                    }
                    "value" => value = Some(x),
                    other => {
                        return Err(
                            path.err(format!("invalid key {other:?} in dynamically-typed value"))
                        );
                    }
                }
            }
            match (concrete, value) {
                (Some(t), Some(x)) => json_decode(x, &t, path, depth + 1),
                (None, _) => Err(path.err("missing type in dynamically-typed value")),
                (_, None) => Err(path.err("missing value in dynamically-typed value")),
            }
        }
        Type::Bool | Type::Number | Type::String => match (j, ty) {
            (Jv::Str(s), _) => primitive_from_str(s, ty).map_err(|e| path.err(e)),
            (Jv::Bool(b), Type::Bool) => Ok(Value::Bool(*b)),
            (Jv::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
            (Jv::Num(n), Type::Number) => number_from_literal(n)
                .map(Value::Number)
                .map_err(|e| path.err(e)),
            (Jv::Num(n), Type::String) => Ok(Value::String((*n).to_owned())),
            (_, Type::Bool) => Err(mismatch(path, "bool")),
            (_, Type::Number) => Err(mismatch(path, "number")),
            _ => Err(mismatch(path, "string")),
        },
        Type::List(et) | Type::Set(et) => {
            let Jv::Arr(items) = j else {
                return Err(mismatch(path, "array"));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let mark = path.index(i);
                out.push(json_decode(item, et, path, depth + 1)?);
                path.restore(mark);
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(out)
            } else {
                Value::List(out)
            })
        }
        Type::Tuple(ets) => {
            let Jv::Arr(items) = j else {
                return Err(mismatch(path, "array"));
            };
            if items.len() != ets.len() {
                return Err(path.err(format!(
                    "a tuple of length {} is required, found {}",
                    ets.len(),
                    items.len()
                )));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, et)) in items.iter().zip(ets).enumerate() {
                let mark = path.index(i);
                out.push(json_decode(item, et, path, depth + 1)?);
                path.restore(mark);
            }
            Ok(Value::Tuple(out))
        }
        Type::Map(et) => {
            let Jv::Obj(entries) = j else {
                return Err(mismatch(path, "object"));
            };
            let mut out = BTreeMap::new();
            for (k, item) in entries {
                let mark = path.key(k);
                out.insert(k.to_string(), json_decode(item, et, path, depth + 1)?);
                path.restore(mark);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let Jv::Obj(entries) = j else {
                return Err(mismatch(path, "object"));
            };
            // Later duplicates overwrite earlier ones, as in Go.
            let by_name: HashMap<&str, &Jv<'_>> =
                entries.iter().map(|(k, v)| (k.as_ref(), v)).collect();
            let mut out = BTreeMap::new();
            for (name, aty) in attrs {
                let v = match by_name.get(name.as_str()) {
                    Some(item) => {
                        let mark = path.attr(name);
                        let v = json_decode(item, aty, path, depth + 1)?;
                        path.restore(mark);
                        v
                    }
                    None => Value::Null,
                };
                out.insert(name.clone(), v);
            }
            Ok(Value::Object(out))
        }
    }
}

// ---------------------------------------------------------------------------
// Flatmap (legacy SDKv2 state)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// `Null` is the natural default: an absent state, result or attribute.
impl Default for Value {
    fn default() -> Self {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn obj(attrs: &[(&str, Type)]) -> Type {
        Type::object(attrs.iter().cloned())
    }

    // --- known byte vectors -------------------------------------------------

    #[test]
    fn null_and_unknown_bytes() {
        for ty in [Type::String, Type::Dynamic, Type::list(Type::Number)] {
            assert_eq!(encode_msgpack(&Value::Null, &ty).unwrap(), [0xc0]);
            assert_eq!(encode_msgpack(&Value::Unknown, &ty).unwrap(), [0xd4, 0, 0]);
            assert_eq!(decode_msgpack(&[0xc0], &ty).unwrap(), Value::Null);
            assert_eq!(decode_msgpack(&[0xd4, 0, 0], &ty).unwrap(), Value::Unknown);
        }
    }

    #[test]
    fn refined_unknown_decodes_as_unknown() {
        // ext8, len 3, type 12, payload {1: false} (definitely not null).
        let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2];
        assert_eq!(
            decode_msgpack(&refined, &Type::String).unwrap(),
            Value::Unknown
        );
        // The payload is skipped exactly: the next attribute still decodes.
        let ty = obj(&[("a", Type::String), ("b", Type::Number)]);
        let mut b = vec![0x82, 0xa1, b'a'];
        b.extend_from_slice(&refined);
        b.extend_from_slice(&[0xa1, b'b', 0x07]);
        assert_eq!(
            decode_msgpack(&b, &ty).unwrap(),
            Value::object([("a", Value::Unknown), ("b", Value::int(7))])
        );
        // Other extension forms are unknown too.
        for ext in [
            &[0xd5, 0x05, 1, 2][..],
            &[0xd6, 0x00, 1, 2, 3, 4][..],
            &[0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0xc8, 0x00, 0x01, 0x0c, 0xc0][..],
            &[0xc9, 0, 0, 0, 0x01, 0x0c, 0xc0][..],
        ] {
            assert_eq!(decode_msgpack(ext, &Type::Number).unwrap(), Value::Unknown);
        }
        // Truncated extension payload is an error, not a panic.
        assert!(decode_msgpack(&[0xc7, 0x05, 0x0c, 0x81], &Type::String).is_err());
    }

    #[test]
    fn number_bytes() {
        assert_eq!(
            encode_msgpack(&Value::int(1), &Type::Number).unwrap(),
            [0x01]
        );
        assert_eq!(
            encode_msgpack(&Value::int(-1), &Type::Number).unwrap(),
            [0xff]
        );
        assert_eq!(
            hex(&encode_msgpack(&Value::Number(Number::Float(1.5)), &Type::Number).unwrap()),
            "cb3ff8000000000000"
        );
        // Integral floats are written as ints, like cty.
        assert_eq!(
            encode_msgpack(&Value::Number(Number::Float(2.0)), &Type::Number).unwrap(),
            [0x02]
        );
        // Beyond i64/f64 exactness: decimal text.
        let big = Value::Number(Number::Big("123456789012345678901234567890".into()));
        assert_eq!(
            encode_msgpack(&big, &Type::Number).unwrap()[1..],
            *b"123456789012345678901234567890"
        );
        assert_eq!(
            decode_msgpack(&encode_msgpack(&big, &Type::Number).unwrap(), &Type::Number).unwrap(),
            big
        );
        // Decoding every numeric form.
        let n = |b: &[u8]| decode_msgpack(b, &Type::Number).unwrap();
        assert_eq!(n(&[0xcc, 0xff]), Value::int(255));
        assert_eq!(n(&[0xd0, 0x80]), Value::int(-128));
        assert_eq!(n(&[0xcd, 0x01, 0x00]), Value::int(256));
        assert_eq!(n(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]), Value::int(i64::MIN));
        assert_eq!(
            n(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Value::Number(Number::Big("18446744073709551615".into()))
        );
        assert_eq!(
            n(&[0xca, 0x3f, 0xc0, 0, 0]),
            Value::Number(Number::Float(1.5))
        );
        assert_eq!(n(&[0xa3, b'4', b'2', b'0']), Value::int(420));
        assert_eq!(n(b"\xa51e400"), Value::Number(Number::Big("1e400".into())));
        assert!(decode_msgpack(b"\xa3abc", &Type::Number).is_err());
        // NaN is rejected, infinities survive.
        assert!(decode_msgpack(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], &Type::Number).is_err());
        let inf = Value::Number(Number::Float(f64::INFINITY));
        assert_eq!(
            decode_msgpack(&encode_msgpack(&inf, &Type::Number).unwrap(), &Type::Number).unwrap(),
            inf
        );
    }

    #[test]
    fn object_bytes() {
        let ty = obj(&[("a", Type::String)]);
        let v = Value::object([("a", Value::string("x"))]);
        assert_eq!(hex(&encode_msgpack(&v, &ty).unwrap()), "81a161a178");
        assert_eq!(
            decode_msgpack(&[0x81, 0xa1, b'a', 0xa1, b'x'], &ty).unwrap(),
            v
        );
        // Attributes are written in sorted order, absent ones as nil.
        let ty = obj(&[("b", Type::Bool), ("a", Type::String)]);
        assert_eq!(
            hex(&encode_msgpack(&Value::object([("b", Value::bool(true))]), &ty).unwrap()),
            "82a161c0a162c3"
        );
    }

    #[test]
    fn dynamic_bytes() {
        let enc = encode_msgpack(&Value::string("hi"), &Type::Dynamic).unwrap();
        let mut want = vec![0x92, 0xc4, 0x08];
        want.extend_from_slice(b"\"string\"");
        want.extend_from_slice(&[0xa2, b'h', b'i']);
        assert_eq!(enc, want);
        assert_eq!(
            decode_msgpack(&want, &Type::Dynamic).unwrap(),
            Value::string("hi")
        );
        // The type JSON may also arrive as a msgpack str.
        let mut as_str = vec![0x92, 0xa8];
        as_str.extend_from_slice(b"\"string\"");
        as_str.extend_from_slice(&[0xa2, b'h', b'i']);
        assert_eq!(
            decode_msgpack(&as_str, &Type::Dynamic).unwrap(),
            Value::string("hi")
        );
        // Complex dynamic value.
        let v = Value::object([("k", Value::list_of_strings(["a", "b"]))]);
        let enc = encode_msgpack(&v, &Type::Dynamic).unwrap();
        assert!(
            enc.windows(23).any(|w| w == br#"["object",{"k":["list","#),
            "{}",
            String::from_utf8_lossy(&enc)
        );
        assert_eq!(decode_msgpack(&enc, &Type::Dynamic).unwrap(), v);
        assert!(decode_msgpack(&[0x93, 0xc0, 0xc0, 0xc0], &Type::Dynamic).is_err());
    }

    #[test]
    fn errors_name_the_path() {
        let ty = obj(&[(
            "statement",
            Type::list(obj(&[("sid", Type::String), ("effect", Type::String)])),
        )]);
        let v = Value::object([(
            "statement",
            Value::List(vec![Value::object([("sid", Value::List(vec![]))])]),
        )]);
        let err = encode_msgpack(&v, &ty).unwrap_err();
        assert!(err.message.starts_with(".statement[0].sid: "), "{err}");

        // {statement: [{sid: 5}]}
        let b = [
            0x81, 0xa9, b's', b't', b'a', b't', b'e', b'm', b'e', b'n', b't', 0x91, 0x81, 0xa3,
            b's', b'i', b'd', 0x05,
        ];
        let err = decode_msgpack(&b, &ty).unwrap_err();
        assert_eq!(
            err.message,
            ".statement[0].sid: string is required, found number"
        );

        // Unknown attribute names the key; missing attributes are null.
        let b = [0x81, 0xa4, b'n', b'o', b'p', b'e', 0xc0];
        let err = decode_msgpack(&b, &ty).unwrap_err();
        assert!(err.message.contains("\"nope\""), "{err}");
        assert_eq!(
            decode_msgpack(&[0x80], &ty).unwrap(),
            Value::object([("statement", Value::Null)])
        );
        // Extra attributes on encode are rejected too.
        let err = encode_msgpack(&Value::object([("x", Value::Null)]), &ty).unwrap_err();
        assert!(err.message.contains("\"x\""), "{err}");
        // Odd map keys are quoted in paths.
        let ty = Type::map(Type::Number);
        let err = decode_msgpack(&[0x81, 0xa3, b'a', b' ', b'b', 0xc3], &ty).unwrap_err();
        assert!(err.message.starts_with("[\"a b\"]: "), "{err}");
    }

    #[test]
    fn structural_errors() {
        // Tuple length must match.
        let ty = Type::Tuple(vec![Type::String, Type::Number]);
        assert!(decode_msgpack(&[0x91, 0xc0], &ty).is_err());
        assert!(encode_msgpack(&Value::Tuple(vec![Value::Null]), &ty).is_err());
        // Trailing bytes, truncation, reserved marker, invalid UTF-8.
        assert!(decode_msgpack(&[0xc0, 0xc0], &Type::String).is_err());
        assert!(decode_msgpack(&[], &Type::String).is_err());
        assert!(
            decode_msgpack(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::list(Type::String)).is_err()
        );
        assert!(decode_msgpack(&[0xc1], &Type::String).is_err());
        assert!(decode_msgpack(&[0xa1, 0xff], &Type::String).is_err());
        // Bin is accepted for strings.
        assert_eq!(
            decode_msgpack(&[0xc4, 1, b'z'], &Type::String).unwrap(),
            Value::string("z")
        );
        // Wrong kinds.
        assert!(decode_msgpack(&[0x01], &Type::String).is_err());
        assert!(decode_msgpack(&[0x90], &Type::map(Type::String)).is_err());
        assert!(encode_msgpack(&Value::int(1), &Type::list(Type::String)).is_err());
        assert!(encode_msgpack(&Value::string("x"), &Type::Number).is_err());
        assert!(encode_msgpack(&Value::Number(Number::Float(f64::NAN)), &Type::Number).is_err());
    }

    #[test]
    fn lenient_encoding_conversions() {
        let ty = obj(&[
            ("b", Type::Bool),
            ("n", Type::Number),
            ("s", Type::String),
            ("set", Type::set(Type::String)),
        ]);
        let v = Value::object([
            ("b", Value::string("true")),
            ("n", Value::string("12")),
            ("s", Value::int(5)),
            ("set", Value::list_of_strings(["x"])),
        ]);
        let got = decode_msgpack(&encode_msgpack(&v, &ty).unwrap(), &ty).unwrap();
        assert_eq!(
            got,
            Value::object([
                ("b", Value::bool(true)),
                ("n", Value::int(12)),
                ("s", Value::string("5")),
                ("set", Value::Set(vec![Value::string("x")])),
            ])
        );
    }

    #[test]
    fn hostile_nesting_is_an_error() {
        // Dynamic inside dynamic, 1000 levels.
        let mut b = Vec::new();
        for _ in 0..1000 {
            b.extend_from_slice(&[0x92, 0xc4, 0x09]);
            b.extend_from_slice(b"\"dynamic\"");
        }
        b.push(0xc0);
        let err = decode_msgpack(&b, &Type::Dynamic).unwrap_err();
        assert!(err.message.contains("nesting"), "{err}");

        // Deeply nested type JSON.
        let deep = format!("{}\"string\"{}", "[\"list\",".repeat(100), "]".repeat(100));
        assert!(Type::from_json_bytes(deep.as_bytes()).is_err());
        let deep = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(Type::from_json_bytes(deep.as_bytes()).is_err());

        // Deep types/values on the encode side.
        let mut ty = Type::String;
        let mut v = Value::string("x");
        for _ in 0..100 {
            ty = Type::list(ty);
            v = Value::List(vec![v]);
        }
        assert!(encode_msgpack(&v, &ty).is_err());
        assert!(encode_json(&v, &ty).is_err());
        assert!(decode_msgpack(&[0x91; 100], &ty).is_err());
        let json = format!("{}\"x\"{}", "[".repeat(100), "]".repeat(100));
        assert!(decode_json(json.as_bytes(), &ty).is_err());

        // Dynamic JSON nesting.
        let mut j = String::from("null");
        for _ in 0..100 {
            j = format!("{{\"value\":{j},\"type\":\"dynamic\"}}");
        }
        assert!(decode_json(j.as_bytes(), &Type::Dynamic).is_err());
    }

    // --- types ---------------------------------------------------------------

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

    // --- JSON ----------------------------------------------------------------

    #[test]
    fn json_encoding() {
        let ty = obj(&[
            ("n", Type::Number),
            ("d", Type::Dynamic),
            ("l", Type::list(Type::String)),
            ("m", Type::map(Type::Bool)),
        ]);
        let v = Value::object([
            ("n", Value::Number(Number::Float(1.5))),
            ("d", Value::string("hi")),
            ("l", Value::list_of_strings(["a"])),
        ]);
        assert_eq!(
            String::from_utf8(encode_json(&v, &ty).unwrap()).unwrap(),
            r#"{"d":{"value":"hi","type":"string"},"l":["a"],"m":null,"n":1.5}"#
        );
        assert!(encode_json(&Value::Unknown, &Type::String).is_err());
        let big = Value::Number(Number::Big("123456789012345678901234567890.5".into()));
        assert_eq!(
            encode_json(&big, &Type::Number).unwrap(),
            b"123456789012345678901234567890.5"
        );
    }

    #[test]
    fn json_decoding() {
        let ty = obj(&[
            ("name", Type::String),
            ("count", Type::Number),
            ("ok", Type::Bool),
        ]);
        // Extra attributes from older schemas are ignored, missing are null,
        // and cty's string conversions apply.
        let v = decode_json(br#"{"name":"x","count":"3","removed_attr":1}"#, &ty).unwrap();
        assert_eq!(
            v,
            Value::object([
                ("name", Value::string("x")),
                ("count", Value::int(3)),
                ("ok", Value::Null),
            ])
        );
        let v = decode_json(br#"{"name":12,"count":1e2,"ok":"true"}"#, &ty).unwrap();
        assert_eq!(v.get("name"), &Value::string("12"));
        assert_eq!(v.get("count").as_i64(), Some(100));
        assert_eq!(v.get("ok"), &Value::bool(true));
        assert!(
            decode_json(br#"{"count":"x"}"#, &ty)
                .unwrap_err()
                .message
                .starts_with(".count: ")
        );
        assert_eq!(
            decode_json(b"18446744073709551615", &Type::Number).unwrap(),
            Value::Number(Number::Big("18446744073709551615".into()))
        );
        assert_eq!(
            decode_json(
                br#"{"value":[1,"a"],"type":["tuple",["number","string"]]}"#,
                &Type::Dynamic
            )
            .unwrap(),
            Value::Tuple(vec![Value::int(1), Value::string("a")])
        );
        assert!(decode_json(br#"{"value":1}"#, &Type::Dynamic).is_err());
        assert!(decode_json(br#"{"value":1,"type":"number","x":1}"#, &Type::Dynamic).is_err());
        assert!(decode_json(b"[1,2]", &Type::Tuple(vec![Type::Number])).is_err());
        assert!(decode_json(b"{", &Type::String).is_err());
    }

    #[test]
    fn json_numbers_are_exact() {
        let n = |s: &str| decode_json(s.as_bytes(), &Type::Number).unwrap();
        // serde_json's default parser rounds this one to a neighbouring f64.
        assert_eq!(
            n("5.449533548987882e252").as_f64(),
            Some(5.449533548987882e252)
        );
        assert!(matches!(n("0.5"), Value::Number(Number::Float(f)) if f == 0.5));
        assert!(matches!(n("0.1"), Value::Number(Number::Big(ref s)) if s == "0.1"));
        assert_eq!(n("0.1").as_f64(), Some(0.1));
        assert!(matches!(n("1e400"), Value::Number(Number::Big(ref s)) if s == "1e400"));
        assert!(matches!(
            n("0.10000000000000001"),
            Value::Number(Number::Big(ref s)) if s == "0.10000000000000001"
        ));
        assert_eq!(n("-0"), Value::int(0));
        assert_eq!(n(" 42 "), Value::int(42));
        for bad in ["01", "1.", ".5", "+1", "1e", "-", "NaN", "1 2"] {
            assert!(decode_json(bad.as_bytes(), &Type::Number).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_strings_and_structure() {
        let s = |j: &str| decode_json(j.as_bytes(), &Type::String);
        assert_eq!(
            s(r#""a\"\\\/\b\f\n\r\t""#).unwrap(),
            Value::string("a\"\\/\u{8}\u{c}\n\r\t")
        );
        assert_eq!(s(r#""\u00e9\ud83d\ude00""#).unwrap(), Value::string("é😀"));
        assert_eq!(s(r#""\ud800x""#).unwrap(), Value::string("\u{FFFD}x"));
        assert_eq!(s("\"ü\"").unwrap(), Value::string("ü"));
        for bad in [
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\nb\"",
            "tru",
            "[1,]",
            "{\"a\" 1}",
            "{1:2}",
        ] {
            assert!(
                decode_json(bad.as_bytes(), &Type::Dynamic).is_err(),
                "{bad}"
            );
        }
        assert!(decode_json(&[b'"', 0xff, b'"'], &Type::String).is_err());
        // Duplicate keys: the last one wins.
        let ty = obj(&[("a", Type::Number)]);
        assert_eq!(
            decode_json(br#"{"a":1,"a":2}"#, &ty).unwrap(),
            Value::object([("a", Value::int(2))])
        );
        // Deep but legal JSON nesting is limited without recursion blow-up.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode_json(deep.as_bytes(), &Type::Dynamic).is_err());
    }

    // --- flatmap -------------------------------------------------------------

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

    // --- helpers -------------------------------------------------------------

    #[test]
    fn value_helpers() {
        let mut v = Value::object([("a", Value::string("x")), ("n", Value::int(3))]);
        assert_eq!(v.get("a").as_str(), Some("x"));
        assert_eq!(v.get("zz"), &Value::Null);
        assert_eq!(Value::string("s").get("a"), &Value::Null);
        assert_eq!(v.get("n").as_i64(), Some(3));
        assert_eq!(v.get("n").as_f64(), Some(3.0));
        assert!(v.is_wholly_known());
        v.set_attr("u", Value::List(vec![Value::Unknown]));
        assert!(!v.is_wholly_known());
        let mut s = Value::string("x");
        s.set_attr("a", Value::Null);
        assert_eq!(s, Value::string("x"));
        assert_eq!(Value::Number(Number::Float(4.0)).as_i64(), Some(4));
        assert_eq!(Value::Number(Number::Float(4.5)).as_i64(), None);
        assert_eq!(
            Value::Number(Number::Big("1e3".into())).as_i64(),
            Some(1000)
        );
        assert_eq!(
            Value::Set(vec![Value::bool(true)])
                .as_list()
                .map(<[Value]>::len),
            Some(1)
        );
        assert!(Value::Null.is_null() && Value::Unknown.is_unknown());
    }

    #[test]
    fn number_equality() {
        assert_eq!(Number::Int(1), Number::Float(1.0));
        assert_eq!(Number::Float(0.5), Number::Big("0.50".into()));
        assert_eq!(Number::Big("1e2".into()), Number::Int(100));
        assert_eq!(Number::Float(-0.0), Number::Int(0));
        assert_ne!(Number::Float(0.1), Number::Big("0.1".into()));
        assert_eq!(
            Number::Float(0.1),
            Number::Big("0.1000000000000000055511151231257827021181583404541015625".into())
        );
        assert_eq!(
            Number::Float(-3.635049825965057e17),
            Number::Int(-363504982596505728)
        );
        assert_eq!(
            Number::Float(-3.635049825965057e17),
            Number::Big("-363504982596505728".into())
        );
        assert_ne!(Number::Float(1e23), Number::Big("1e23".into()));
        assert_eq!(Number::Float(f64::INFINITY), Number::Float(f64::INFINITY));
        assert_ne!(Number::Float(f64::INFINITY), Number::Big("1e400".into()));
        assert_ne!(
            Number::Int(9_007_199_254_740_993),
            Number::Float(9_007_199_254_740_992.0)
        );
        assert_ne!(Number::Float(f64::NAN), Number::Float(f64::NAN));
        assert_eq!("12".parse::<Number>().unwrap(), Number::Int(12));
        assert!("1.2.3".parse::<Number>().is_err());
        assert_eq!(Number::Big("000.100".into()).to_string(), "0.1");
        assert_eq!(Number::Big("-5e-70".into()).to_string(), "-5e-70");
        assert_eq!(Number::Big("12e3".into()).to_string(), "12000");
    }

    #[test]
    fn infer_type_unifies_elements() {
        let v = Value::List(vec![
            Value::object([("a", Value::Null)]),
            Value::object([("a", Value::string("x"))]),
        ]);
        assert_eq!(v.infer_type(), Type::list(obj(&[("a", Type::String)])));
        let mixed = Value::List(vec![
            Value::List(vec![Value::int(1), Value::string("a")]),
            Value::list_of_strings(["b"]),
        ]);
        assert_eq!(mixed.infer_type(), Type::list(Type::list(Type::Dynamic)));
        assert_eq!(
            decode_msgpack(
                &encode_msgpack(&mixed, &Type::Dynamic).unwrap(),
                &Type::Dynamic
            )
            .unwrap(),
            mixed
        );
        assert_eq!(Value::Null.infer_type(), Type::Dynamic);
        assert_eq!(
            Value::Map(BTreeMap::new()).infer_type(),
            Type::map(Type::Dynamic)
        );
    }

    // --- property tests --------------------------------------------------------

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Number),
            Just(Type::String),
            Just(Type::Dynamic),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(Type::list),
                inner.clone().prop_map(Type::set),
                inner.clone().prop_map(Type::map),
                prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4)
                    .prop_map(Type::Object),
                prop::collection::vec(inner, 0..4).prop_map(Type::Tuple),
            ]
        })
    }

    /// What kinds of values the generator may produce.
    #[derive(Clone, Copy, Debug)]
    struct Gen {
        /// Sprinkle `Unknown` (msgpack only; JSON can't carry it).
        unknowns: bool,
        /// Numbers beyond i64/f64.
        big: bool,
        /// JSON cannot carry infinities.
        infinities: bool,
        /// Arbitrary finite floats; otherwise only floats whose shortest
        /// decimal text is exact, the only ones JSON text reproduces
        /// exactly (cty's JSON has the same property).
        any_floats: bool,
        /// Remaining nested `dynamic` levels.
        dynamic_depth: u32,
    }

    fn finite_f64() -> impl Strategy<Value = f64> {
        use proptest::num::f64 as f;
        f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO
    }

    fn arb_number(g: Gen) -> BoxedStrategy<Number> {
        let floats = if g.any_floats {
            finite_f64().prop_map(Number::Float).boxed()
        } else {
            // At most 15 significant digits: the shortest text is then exact.
            (-(1i32 << 20)..(1 << 20), 0u32..8)
                .prop_map(|(i, k)| Number::Float(f64::from(i) / f64::from(1u32 << k)))
                .boxed()
        };
        let mut choices: Vec<(u32, BoxedStrategy<Number>)> = vec![
            (2, any::<i64>().prop_map(Number::Int).boxed()),
            (2, floats),
            (
                1,
                (-1000i64..1000)
                    .prop_map(|i| Number::Float(i as f64 / 8.0))
                    .boxed(),
            ),
        ];
        if g.big {
            choices.push((
                1,
                "-?[1-9][0-9]{19,30}(\\.[0-9]{0,10}[1-9])?"
                    .prop_map(Number::Big)
                    .boxed(),
            ));
            choices.push((1, "-?0\\.[0-9]{0,30}[1-9]".prop_map(Number::Big).boxed()));
            choices.push((1, "[1-9]e[+-]?[3-9][0-9]{2}".prop_map(Number::Big).boxed()));
        }
        if g.infinities {
            choices.push((
                1,
                prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
                    .prop_map(Number::Float)
                    .boxed(),
            ));
        }
        proptest::strategy::Union::new_weighted(choices).boxed()
    }

    fn arb_value(ty: &Type, g: Gen) -> BoxedStrategy<Value> {
        let known = arb_known(ty, g);
        if g.unknowns {
            prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
        } else {
            prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
        }
    }

    fn dedup(items: Vec<Value>) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for v in items {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    fn arb_known(ty: &Type, g: Gen) -> BoxedStrategy<Value> {
        match ty {
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Number => arb_number(g).prop_map(Value::Number).boxed(),
            Type::String => any::<String>().prop_map(Value::String).boxed(),
            Type::Dynamic if g.dynamic_depth == 0 => prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                arb_number(g).prop_map(Value::Number),
                "\\PC{0,8}".prop_map(Value::String),
            ]
            .boxed(),
            Type::Dynamic => {
                let inner = Gen {
                    dynamic_depth: g.dynamic_depth - 1,
                    ..g
                };
                arb_type()
                    .prop_flat_map(move |t| arb_known(&t, inner))
                    .boxed()
            }
            Type::List(et) => prop::collection::vec(arb_value(et, g), 0..4)
                .prop_map(Value::List)
                .boxed(),
            Type::Set(et) => prop::collection::vec(arb_value(et, g), 0..4)
                .prop_map(|v| Value::Set(dedup(v)))
                .boxed(),
            Type::Map(et) => prop::collection::btree_map("\\PC{0,6}", arb_value(et, g), 0..4)
                .prop_map(Value::Map)
                .boxed(),
            Type::Object(attrs) => attrs
                .iter()
                .map(|(k, t)| {
                    let k = k.clone();
                    arb_value(t, g).prop_map(move |v| (k.clone(), v)).boxed()
                })
                .collect::<Vec<_>>()
                .prop_map(|kv| Value::Object(kv.into_iter().collect()))
                .boxed(),
            Type::Tuple(ets) => ets
                .iter()
                .map(|t| arb_value(t, g))
                .collect::<Vec<_>>()
                .prop_map(Value::Tuple)
                .boxed(),
        }
    }

    fn typed_value(g: Gen) -> impl Strategy<Value = (Type, Value)> {
        arb_type().prop_flat_map(move |t| {
            let v = arb_value(&t, g);
            (Just(t), v)
        })
    }

    const MSGPACK_GEN: Gen = Gen {
        unknowns: true,
        big: true,
        infinities: true,
        any_floats: true,
        dynamic_depth: 2,
    };
    const JSON_GEN: Gen = Gen {
        unknowns: false,
        big: true,
        infinities: false,
        any_floats: false,
        dynamic_depth: 2,
    };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn msgpack_round_trip((ty, v) in typed_value(MSGPACK_GEN)) {
            let bytes = encode_msgpack(&v, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            let back = decode_msgpack(&bytes, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(back, v);
        }

        #[test]
        fn json_round_trip((ty, v) in typed_value(JSON_GEN)) {
            prop_assume!(v.is_wholly_known());
            let bytes = encode_json(&v, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            let back = decode_json(&bytes, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(back, v);
        }

        #[test]
        fn json_decode_encode_is_stable((ty, v) in typed_value(Gen { any_floats: true, ..JSON_GEN })) {
            // Arbitrary floats may come back as the exact decimal of their
            // shortest text (`Big("0.1")`), but from then on nothing moves.
            prop_assume!(v.is_wholly_known());
            let once = decode_json(&encode_json(&v, &ty).unwrap(), &ty).unwrap();
            let twice = decode_json(&encode_json(&once, &ty).unwrap(), &ty).unwrap();
            prop_assert_eq!(twice, once);
        }

        #[test]
        fn type_json_round_trip(ty in arb_type()) {
            prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()), Ok(ty));
        }

        #[test]
        fn number_round_trip(n in arb_number(MSGPACK_GEN)) {
            let v = Value::Number(n);
            let back = decode_msgpack(&encode_msgpack(&v, &Type::Number).unwrap(), &Type::Number).unwrap();
            prop_assert_eq!(&back, &v);
            let back = decode_msgpack(&encode_msgpack(&v, &Type::Dynamic).unwrap(), &Type::Dynamic).unwrap();
            prop_assert_eq!(&back, &v);
        }

        #[test]
        fn number_json_round_trip(n in arb_number(JSON_GEN), f in finite_f64()) {
            let v = Value::Number(n);
            let back = decode_json(&encode_json(&v, &Type::Number).unwrap(), &Type::Number).unwrap();
            prop_assert_eq!(back, v);
            // Any float survives as the same f64, if not the same variant.
            let v = Value::Number(Number::Float(f));
            let back = decode_json(&encode_json(&v, &Type::Number).unwrap(), &Type::Number).unwrap();
            prop_assert_eq!(back.as_f64(), Some(f));
        }

        #[test]
        fn decimal_text_round_trip(s in "[+-]?[0-9]{0,25}(\\.[0-9]{0,25})?([eE][+-]?[0-9]{1,4})?") {
            if let Some(d) = parse_decimal(&s) {
                let text = d.to_text();
                prop_assert_eq!(parse_decimal(&text), Some(d));
                // Always a valid JSON number.
                prop_assert!(matches!(parse_json(text.as_bytes()), Ok(Jv::Num(_))), "{}", text);
            }
        }

        #[test]
        fn random_bytes_never_panic(ty in arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_msgpack(&bytes, &ty);
            let _ = decode_json(&bytes, &ty);
            let _ = Type::from_json_bytes(&bytes);
        }

        #[test]
        fn mutated_encodings_never_panic(
            (ty, v) in typed_value(MSGPACK_GEN),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = encode_msgpack(&v, &ty).unwrap();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = decode_msgpack(&bytes, &ty);
            let end = cut.index(bytes.len() + 1);
            let _ = decode_msgpack(&bytes[..end], &ty);
        }

        #[test]
        fn json_like_text_never_panics(ty in arb_type(), text in "[\\[\\]{}\",:0-9a-z\\\\. eE+-]{0,40}") {
            let _ = decode_json(text.as_bytes(), &ty);
        }

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
