//! PostgreSQL duration settings (`statement_timeout`, `lock_timeout`) as the server stores them.

/// A PostgreSQL duration setting: whole number and unit (default ms). PostgreSQL stores it as
/// int milliseconds and refuses more only when the SQL runs, so the bound is checked here too.
pub fn validate_timeout(s: &str) -> bool {
    let t = s.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic()).trim();
    let unit = t.get(digits.len()..).unwrap_or("").trim();
    let micros_per_unit: u128 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return false,
    };
    let max_micros = u128::from(i32::MAX.unsigned_abs()) * 1_000;
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_mul(micros_per_unit))
            .is_some_and(|us| us <= max_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_stay_within_what_postgresql_stores() {
        for ok in [
            "0",
            "1500ms",
            "30s",
            "5min",
            "1h",
            "24d",
            "2147483647",
            "2147483s",
        ] {
            assert!(validate_timeout(ok), "{ok}");
        }
        // Beyond INT_MAX milliseconds PostgreSQL fails only when the ALTER ROLE runs.
        for bad in [
            "25d",
            "2147483648",
            "3000000s",
            "99999999999999999999999999999999999999999h",
            "1s; DROP ROLE x",
            "",
            "s",
            "-1s",
            "1.5s",
        ] {
            assert!(!validate_timeout(bad), "{bad}");
        }
    }
}
