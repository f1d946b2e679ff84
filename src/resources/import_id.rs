//! The field codec shared by import IDs: fields are joined by `|` (lists inside a field by
//! `,`), and only what would break that — `%`, `|`, `,` and control characters — is
//! percent-encoded, so `mario.rossi@example.com`, `a"b`, `/`, case and non-ASCII stay readable.

/// Percent-encodes `%`, `|`, `,` and control characters.
pub fn encode_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '|' | ',') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Strict decoding: a `%` must start a two-digit hex escape and the result must be UTF-8.
pub fn decode_field(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!("{s:?}: `%` must be followed by two hex digits (write `%25` for a literal `%`)")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// The fields encoded and joined by `|`.
pub fn join_fields(fields: &[&str]) -> String {
    let fields: Vec<String> = fields.iter().map(|f| encode_field(f)).collect();
    fields.join("|")
}

/// A list field: each item encoded, joined by `,`.
pub fn join_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| encode_field(s)).collect();
    items.join(",")
}

/// The inverse of [`join_list`]; an empty field is an empty list.
pub fn split_list(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(decode_field).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nasty_names() {
        for s in [
            "mario.rossi@example.com",
            "a\"b",
            "x|y,z%2C",
            "tab\there",
            "Ünï/Case_1",
            "",
        ] {
            assert_eq!(decode_field(&encode_field(s)).as_deref(), Ok(s));
        }
        assert_eq!(encode_field("a|b,c%"), "a%7Cb%2Cc%25");
        assert!(decode_field("50%").is_err());
        assert!(decode_field("%zz").is_err());
        assert!(decode_field("%FF").is_err());
        let list = vec!["a,b".to_string(), "c".into()];
        assert_eq!(join_list(&list), "a%2Cb,c");
        assert_eq!(split_list("a%2Cb,c"), Ok(list));
        assert_eq!(split_list(""), Ok(vec![]));
        assert_eq!(join_fields(&["a|b", "", "c"]), "a%7Cb||c");
    }
}
