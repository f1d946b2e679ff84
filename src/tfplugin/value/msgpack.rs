//! cty's msgpack encoding (`DynamicValue.msgpack`), following go-cty's `cty/msgpack`.
//!
//! Encoding uses `rmp`'s writers. Decoding classifies markers with
//! `rmp::Marker` but reads through our own bounds-checked `Reader`:
//! `rmp::decode` reads one expected kind at a time, while cty's decoder must
//! first see which kind came (an extension means unknown at any position, a
//! number may be an int, a float or a string) and borrows strings from the
//! input; `rmpv` would add a crate and an owned intermediate tree per
//! request, leaving the schema-driven part to us anyway.

use std::collections::BTreeMap;
use std::fmt;

use rmp::Marker;

use super::{
    NULL, Number, Path, Type, Value, ValueError, coerce_bool, coerce_number, coerce_string,
    f64_as_exact_i64, parse_decimal,
};

/// cty's encoding of a wholly unknown value: msgpack fixext1, extension
/// type 0, one zero byte of payload (the most compact extension form).
const UNKNOWN_MSGPACK: [u8; 3] = [0xd4, 0x00, 0x00];

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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn msgpack_round_trip((ty, v) in typed_value(MSGPACK_GEN)) {
            let bytes = encode_msgpack(&v, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            let back = decode_msgpack(&bytes, &ty).map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(back, v);
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
    }
}
