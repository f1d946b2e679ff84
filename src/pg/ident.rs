//! The one place SQL identifiers and literals are quoted. Every role, database and schema name
//! that reaches SQL text goes through [`quote_ident`]; values go through query parameters, or
//! [`quote_literal`] where PostgreSQL's grammar takes no parameter (e.g. `ALTER ROLE … SET`).

use std::fmt;

/// PostgreSQL truncates identifiers at NAMEDATALEN - 1 bytes; we refuse instead of truncating.
pub const MAX_IDENT_BYTES: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentError(pub String);

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdentError {}

/// Checks a name PostgreSQL will store exactly as given (case kept, any character but NUL).
pub fn validate_name(name: &str) -> Result<(), IdentError> {
    if name.is_empty() {
        return Err(IdentError("must not be empty".into()));
    }
    if name.len() > MAX_IDENT_BYTES {
        return Err(IdentError(format!(
            "is {} bytes long; PostgreSQL names are at most {MAX_IDENT_BYTES} bytes",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(IdentError("must not contain a NUL character".into()));
    }
    Ok(())
}

/// `"name"` with embedded double quotes doubled. Always quotes, so case and punctuation are
/// kept exactly: `Mixed.Case`, `mario.rossi@example.com`, `a"b`.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        // NUL cannot be represented; validation rejects it before SQL is built.
        if c != '\0' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A string constant: `'…'` with quotes doubled, or `E'…'` with backslashes escaped too when
/// the text holds a backslash, so the result is right whatever `standard_conforming_strings`
/// says.
pub fn quote_literal(value: &str) -> String {
    let has_backslash = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if has_backslash {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if has_backslash => out.push_str("\\\\"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_keep_everything() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("Mixed.Case"), "\"Mixed.Case\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_ident("x; DROP ROLE admin; --"),
            "\"x; DROP ROLE admin; --\""
        );
        assert_eq!(
            quote_ident("mario.rossi@example.com"),
            "\"mario.rossi@example.com\""
        );
    }

    #[test]
    fn literals() {
        assert_eq!(quote_literal("a'b"), "'a''b'");
        assert_eq!(quote_literal("a\\b'"), "E'a\\\\b'''");
        assert_eq!(quote_literal(""), "''");
    }

    #[test]
    fn names() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name(&"x".repeat(63)).is_ok());
        assert!(validate_name(&"x".repeat(64)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\0b").is_err());
        // 21 three-byte characters = 63 bytes.
        assert!(validate_name(&"€".repeat(21)).is_ok());
        assert!(validate_name(&"€".repeat(22)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn quoted_ident_round_trips(s in "[^\\x00]{0,40}") {
            let q = quote_ident(&s);
            let inner = &q[1..q.len() - 1];
            proptest::prop_assert_eq!(inner.replace("\"\"", "\""), s);
        }
    }
}
