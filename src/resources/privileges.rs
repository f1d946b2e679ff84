//! The privilege vocabulary `postgres_grant` and `postgres_default_privileges` share: which
//! privileges each kind of object knows, what `ALL` means on a server, and the text of the
//! `GRANT` / `REVOKE` statements (privilege keywords only; names are quoted by the caller).

use std::collections::BTreeSet;

use crate::tfplugin::{Attribute, Type, Validator, Value};
use crate::validators::pg_name;

/// A kind of object privileges are granted on; each resource maps its `object_type` to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Database,
    Schema,
    Table,
    Sequence,
    /// Functions, procedures and aggregates.
    Routine,
    Type,
}

impl Kind {
    /// Every privilege the kind knows on any supported server, in `GRANT` order (MAINTAIN:
    /// PostgreSQL 17+).
    pub fn known(self) -> &'static [&'static str] {
        match self {
            Kind::Database => &["CREATE", "CONNECT", "TEMPORARY"],
            Kind::Schema => &["CREATE", "USAGE"],
            Kind::Table => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
                "MAINTAIN",
            ],
            Kind::Sequence => &["USAGE", "SELECT", "UPDATE"],
            Kind::Routine => &["EXECUTE"],
            Kind::Type => &["USAGE"],
        }
    }

    /// What `ALL` means on a server of `major`: PostgreSQL 17 added MAINTAIN on tables.
    pub fn all(self, major: u32) -> Vec<&'static str> {
        let known = self.known().iter().copied();
        known.filter(|p| *p != "MAINTAIN" || major >= 17).collect()
    }

    /// `privileges` with `ALL` replaced by what it means on a server of `major`.
    pub fn expand<'a>(
        self,
        privileges: impl IntoIterator<Item = &'a String>,
        major: u32,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for p in privileges {
            if p == "ALL" {
                out.extend(self.all(major).into_iter().map(str::to_string));
            } else {
                out.insert(p.clone());
            }
        }
        out
    }
}

/// A required string that identifies the entry: changing it replaces the resource.
pub fn key(name: &str) -> Attribute {
    Attribute::string(name).required().requires_replace()
}

/// A [`key`] naming a PostgreSQL object.
pub fn name_key(name: &str) -> Attribute {
    key(name).validate(pg_name())
}

/// A flag attribute, `false` by default.
pub fn flag(name: &str) -> Attribute {
    Attribute::bool(name).default_value(Value::bool(false))
}

/// The required `privileges` set.
pub fn privileges_attr() -> Attribute {
    Attribute::set_of("privileges", Type::String).required()
}

/// `object_type` is one of `names`.
pub fn object_type(names: &'static [&'static str]) -> Validator {
    Validator::string(move |s| match names.contains(&s) {
        true => Ok(()),
        false => Err(format!("{s:?} is not one of {}.", names.join(", "))),
    })
}

/// An import ID's object type that is not one of `names`.
pub fn unknown_object_type(s: &str, names: &[&str]) -> String {
    format!("object_type {s:?} is not one of {}", names.join(", "))
}

/// Plan-time check of `privileges` against the server: a privilege it does not have yet
/// (MAINTAIN before PostgreSQL 17) fails the plan at `privileges`, naming the version, instead
/// of the apply with the server's text. Asks the server only when such a privilege is listed.
pub async fn check_server_has(
    pg: &crate::pg::Pg,
    kind: Kind,
    privileges: &[&String],
) -> Result<(), crate::tfplugin::Diagnostics> {
    use crate::resources::managed::{Postgres, unavailable};
    let newer: Vec<&String> = privileges
        .iter()
        .copied()
        .filter(|p| kind.known().contains(&p.as_str()) && !kind.all(16).contains(&p.as_str()))
        .collect();
    if newer.is_empty() {
        return Ok(());
    }
    let version = pg.server_version().await.map_err(unavailable::<Postgres>)?;
    let have = kind.all(major(version));
    let missing: Vec<&str> = newer
        .iter()
        .map(|p| p.as_str())
        .filter(|p| !have.contains(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut d = crate::tfplugin::Diagnostics::new();
    d.error_at(
        crate::tfplugin::AttributePath::root("privileges"),
        "Privilege not supported by this server",
        format!(
            "{} needs PostgreSQL 17 or later; the server is PostgreSQL {}, which knows {}.",
            missing.join(", "),
            major(version),
            have.join(", ")
        ),
    );
    Err(d)
}

/// The server major from `server_version_num` (`170002` -> 17).
pub fn major(version_num: i32) -> u32 {
    u32::try_from(version_num / 10_000).unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Grant,
    Revoke,
    RevokeGrantOption,
}

/// `GRANT p ON target TO grantee [WITH GRANT OPTION]` or `REVOKE [GRANT OPTION FOR] p ON target
/// FROM grantee`. `privileges` must be keywords, `target` and `grantee` already quoted.
pub fn statement(
    verb: Verb,
    privileges: &str,
    target: &str,
    grantee: &str,
    grant_option: bool,
) -> String {
    match verb {
        Verb::Grant if grant_option => {
            format!("GRANT {privileges} ON {target} TO {grantee} WITH GRANT OPTION")
        }
        Verb::Grant => format!("GRANT {privileges} ON {target} TO {grantee}"),
        Verb::Revoke => format!("REVOKE {privileges} ON {target} FROM {grantee}"),
        Verb::RevokeGrantOption => {
            format!("REVOKE GRANT OPTION FOR {privileges} ON {target} FROM {grantee}")
        }
    }
}

/// What an update revokes, going from `had` (with grant option `had_option`) to `want`: the
/// dropped privileges, then the grant option of the kept ones when the option goes. Empty sets
/// are left out.
pub fn revokes(
    had: &BTreeSet<String>,
    had_option: bool,
    want: &BTreeSet<String>,
    want_option: bool,
) -> Vec<(Verb, BTreeSet<String>)> {
    let dropped: BTreeSet<String> = had.difference(want).cloned().collect();
    let mut out = vec![(Verb::Revoke, dropped)];
    if had_option && !want_option {
        out.push((
            Verb::RevokeGrantOption,
            had.intersection(want).cloned().collect(),
        ));
    }
    out.retain(|(_, p)| !p.is_empty());
    out
}

/// Test support for both resources.
#[cfg(test)]
pub mod test_support {
    use std::collections::BTreeSet;

    use crate::tfplugin::{Diagnostics, Value};

    pub fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|p| p.to_string()).collect()
    }

    /// The sorted attribute paths of the diagnostics.
    pub fn paths(d: &Diagnostics) -> Vec<String> {
        let mut p: Vec<String> =
            d.0.iter()
                .filter_map(|d| d.attribute.as_ref())
                .map(ToString::to_string)
                .collect();
        p.sort();
        p
    }

    /// A configuration of string attributes and a privileges set.
    pub fn config(attrs: &[(&str, &str)], privileges: &[&str]) -> Value {
        let mut v = Value::object(attrs.iter().map(|(k, x)| (*k, Value::string(*x))));
        let privileges = privileges.iter().map(|p| Value::string(*p)).collect();
        v.set_attr("privileges", Value::Set(privileges));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::set;
    use super::*;

    #[test]
    fn all_expands_per_version() {
        assert_eq!(Kind::Table.all(16).len(), 7);
        assert_eq!(Kind::Table.all(17).len(), 8);
        assert_eq!(major(170_002), 17);
        assert_eq!(major(150_000), 15);
        let all = set(&["ALL"]);
        assert!(!Kind::Table.expand(&all, 15).contains("MAINTAIN"));
        assert!(Kind::Table.expand(&all, 17).contains("MAINTAIN"));
        assert_eq!(Kind::Sequence.expand(&set(&["ALL", "USAGE"]), 17).len(), 3);
        assert_eq!(Kind::Schema.expand(&set(&["USAGE"]), 17), set(&["USAGE"]));
    }

    #[test]
    fn statements_and_revokes() {
        let cases = [
            (Verb::Grant, false, "GRANT S ON t TO g"),
            (Verb::Grant, true, "GRANT S ON t TO g WITH GRANT OPTION"),
            (Verb::Revoke, true, "REVOKE S ON t FROM g"),
            (
                Verb::RevokeGrantOption,
                true,
                "REVOKE GRANT OPTION FOR S ON t FROM g",
            ),
        ];
        for (verb, option, want) in cases {
            assert_eq!(statement(verb, "S", "t", "g", option), want);
        }
        let (had, want) = (set(&["A", "B"]), set(&["B", "C"]));
        assert_eq!(
            revokes(&had, true, &want, false),
            vec![
                (Verb::Revoke, set(&["A"])),
                (Verb::RevokeGrantOption, set(&["B"]))
            ]
        );
        assert_eq!(
            revokes(&had, true, &want, true),
            vec![(Verb::Revoke, set(&["A"]))]
        );
        assert!(revokes(&want, false, &want, false).is_empty());
    }
}
