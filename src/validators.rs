//! The provider's attribute validators, declared in schemas (`Attribute::validate` /
//! `Attribute::each`) and applied by the framework with the attribute's path.

use crate::pg::ident::validate_name;
use crate::tfplugin::Validator;

/// A PostgreSQL name stored exactly as given: 1 to 63 bytes, no NUL.
pub fn pg_name() -> Validator {
    Validator::string(|s| validate_name(s).map_err(|e| format!("{s:?} {e}")))
}

/// A PostgreSQL duration setting such as `30s`, `1500ms`, `5min` (at most INT_MAX ms).
pub fn pg_duration() -> Validator {
    Validator::string(|t| {
        if crate::pg::duration::validate_timeout(t) {
            Ok(())
        } else {
            Err(format!(
                "{t:?} is not a duration like 30s, 1500ms, 5min or 1h (at most 24 days)."
            ))
        }
    })
}

/// A whole number from `min` to `i32::MAX` (PostgreSQL's int4 settings).
pub fn whole_number(min: i32, what: &'static str) -> Validator {
    Validator::number(move |n| {
        if n < f64::from(min) || n.fract() != 0.0 || n > f64::from(i32::MAX) {
            Err(format!("{n} is not a whole number from {what} up."))
        } else {
            Ok(())
        }
    })
}
