//! cty's JSON value encoding (`RawState.json`), following go-cty's `cty/json`.
//!
//! Encoding writes text directly (serde_json only escapes strings). Decoding
//! uses our own small parser, not `serde_json` with `arbitrary_precision`:
//! - that feature is unified across the whole build, so it would change
//!   `serde_json::Number` for every other user in it (`"1.50"` re-serialises
//!   as `1.50` and no longer equals `1.5`; numbers inside `untagged` or
//!   `flatten` serde types stop deserialising);
//! - serde_json rejects lone UTF-16 surrogates (`"\ud800"`), which Go's
//!   encoding/json, and so Terraform, reads as U+FFFD;
//! - its fixed recursion limit (128) is below the nesting legal input can
//!   reach: a value up to [`MAX_DEPTH`] deep, with a type description up to
//!   [`MAX_DEPTH`] deep inside each `dynamic` wrapper;
//! - ours keeps number literals as borrowed text and strings without escapes
//!   borrowed, which is all cty decoding needs.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::{
    MAX_DEPTH, NULL, Number, Path, Type, Value, ValueError, coerce_bool, coerce_number,
    coerce_string, f64_as_exact_i64, parse_decimal, primitive_from_str,
};

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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

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
        fn json_like_text_never_panics(ty in arb_type(), text in "[\\[\\]{}\",:0-9a-z\\\\. eE+-]{0,40}") {
            let _ = decode_json(text.as_bytes(), &ty);
        }
    }
}
