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
//! Terraform's `hcl2shim` flatmap reader. This module holds what the
//! encodings share ([`Value`], [`Number`], [`ValueError`], the error path,
//! cty's lenient primitive conversions); `types` (the [`Type`] and its JSON
//! form), `msgpack`, `json` and `flatmap` each hold one encoding.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

mod flatmap;
mod json;
mod msgpack;
mod types;

pub use flatmap::decode_flatmap;
pub use json::{decode_json, encode_json};
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use types::Type;

/// Deepest nesting of values (and of types) accepted when decoding or
/// encoding. Real schemas are a handful of levels deep; the limit exists so
/// hostile input cannot overflow the stack through recursion.
pub const MAX_DEPTH: usize = 64;

/// The string SDKv2 wrote into flatmap state for a value not yet known.
pub const UNKNOWN_SENTINEL: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

/// 2^63: the exclusive upper bound of `i64` as an `f64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Returned by [`Value::get`] for absent attributes, so callers can chain
/// lookups without handling `Option` at each step.
static NULL: Value = Value::Null;

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

/// `Null` is the natural default: an absent state, result or attribute.
impl Default for Value {
    fn default() -> Self {
        Value::Null
    }
}

/// Helpers and proptest generators shared by the tests of every encoding.
#[cfg(test)]
mod test_support {
    use super::*;
    use proptest::prelude::*;

    pub(super) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    pub(super) fn obj(attrs: &[(&str, Type)]) -> Type {
        Type::object(attrs.iter().cloned())
    }

    pub(super) fn arb_type() -> impl Strategy<Value = Type> {
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
    pub(super) struct Gen {
        /// Sprinkle `Unknown` (msgpack only; JSON can't carry it).
        pub(super) unknowns: bool,
        /// Numbers beyond i64/f64.
        pub(super) big: bool,
        /// JSON cannot carry infinities.
        pub(super) infinities: bool,
        /// Arbitrary finite floats; otherwise only floats whose shortest
        /// decimal text is exact, the only ones JSON text reproduces
        /// exactly (cty's JSON has the same property).
        pub(super) any_floats: bool,
        /// Remaining nested `dynamic` levels.
        pub(super) dynamic_depth: u32,
    }

    pub(super) fn finite_f64() -> impl Strategy<Value = f64> {
        use proptest::num::f64 as f;
        f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO
    }

    pub(super) fn arb_number(g: Gen) -> BoxedStrategy<Number> {
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

    pub(super) fn arb_value(ty: &Type, g: Gen) -> BoxedStrategy<Value> {
        let known = arb_known(ty, g);
        if g.unknowns {
            prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
        } else {
            prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
        }
    }

    pub(super) fn dedup(items: Vec<Value>) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for v in items {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    pub(super) fn arb_known(ty: &Type, g: Gen) -> BoxedStrategy<Value> {
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

    pub(super) fn typed_value(g: Gen) -> impl Strategy<Value = (Type, Value)> {
        arb_type().prop_flat_map(move |t| {
            let v = arb_value(&t, g);
            (Just(t), v)
        })
    }

    pub(super) const MSGPACK_GEN: Gen = Gen {
        unknowns: true,
        big: true,
        infinities: true,
        any_floats: true,
        dynamic_depth: 2,
    };
    pub(super) const JSON_GEN: Gen = Gen {
        unknowns: false,
        big: true,
        infinities: false,
        any_floats: false,
        dynamic_depth: 2,
    };
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_bytes_never_panic(ty in arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_msgpack(&bytes, &ty);
            let _ = decode_json(&bytes, &ty);
            let _ = Type::from_json_bytes(&bytes);
        }
    }
}
