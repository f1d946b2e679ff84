//! What the role resources (`rdsiam_postgres_user`, `rdsiam_postgres_role`,
//! `rdsiam_postgres_role_membership`) share: reserved names, who the provider's login is and
//! what it belongs to, and the safe drop that never lets the login join a role it should not.

use std::collections::BTreeSet;

use tokio_postgres::error::SqlState;

use crate::pg::ident::quote_ident;
use crate::pg::row::{col, column};
use crate::pg::{Pg, PgError};
use crate::tfplugin::{Diagnostic, Diagnostics, Validator};
use crate::validators::pg_name;

/// Names PostgreSQL or RDS keep for themselves; managing them would break the server.
pub(crate) fn reserved(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("pg_") {
        Some("names starting with pg_ are reserved by PostgreSQL")
    } else if lower.starts_with("rds_") || lower.starts_with("rdsadmin") {
        Some("names starting with rds_ or rdsadmin are reserved by Amazon RDS")
    } else if ["postgres", "public", "none"].contains(&lower.as_str()) {
        Some("this name is reserved")
    } else {
        None
    }
}

pub(crate) fn role_name() -> Validator {
    pg_name().summary("Invalid role name")
}

pub(crate) fn not_reserved() -> Validator {
    Validator::string(|n| reserved(n).map_or(Ok(()), |why| Err(format!("{n:?}: {why}."))))
}

pub(crate) fn grant(role: &str, to: &str) -> String {
    format!("GRANT {} TO {}", quote_ident(role), quote_ident(to))
}

pub(crate) fn revoke(role: &str, from: &str) -> String {
    format!("REVOKE {} FROM {}", quote_ident(role), quote_ident(from))
}

/// The provider's login role and whether it is a superuser.
pub(crate) async fn current_user(pg: &Pg) -> Result<(String, bool), PgError> {
    let rows = pg
        .query(
            None,
            "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?;
    let row = rows.first().ok_or_else(|| PgError {
        message: "cannot see the provider's own role in pg_roles".into(),
        code: None,
    })?;
    Ok((col(row, 0)?, col(row, 1)?))
}

/// The roles the provider's login role can use (transitively). On 16+ an ADMIN-only row
/// (no INHERIT, no SET) is not membership, so the RDS-like admin's hold on rds_iam and on the
/// roles it created does not count.
pub(crate) async fn roles_of_current_user(pg: &Pg) -> Result<BTreeSet<String>, PgError> {
    let v16 = pg.server_version().await? >= 160_000;
    let usable = if v16 {
        "AND (m.inherit_option OR m.set_option)"
    } else {
        ""
    };
    let sql = format!(
        "WITH RECURSIVE up(oid) AS ( \
           SELECT oid FROM pg_roles WHERE rolname = current_user \
           UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid {usable}) \
         SELECT r.rolname::text FROM up JOIN pg_roles r ON r.oid = up.oid"
    );
    let rows = pg.query(None, &sql, &[]).await?;
    Ok(column::<String>(&rows, 0)?.into_iter().collect())
}

/// PostgreSQL 16+ may add the creating role as a member of every role it creates
/// (`createrole_self_grant`); with rds_iam granted in the same transaction that would make the
/// admin an rds_iam member, so it is switched off for our transactions.
pub(crate) async fn create_preamble(pg: &Pg) -> Result<Vec<String>, PgError> {
    Ok(if pg.server_version().await? >= 160_000 {
        vec!["SET LOCAL createrole_self_grant TO ''".to_string()]
    } else {
        Vec::new()
    })
}

/// Databases where the role owns objects or holds privileges (pg_shdepend), besides shared
/// objects.
pub(crate) async fn dependent_databases(pg: &Pg, name: &str) -> Result<Vec<String>, PgError> {
    let rows = pg
        .query(
            None,
            // dbid 0 = shared objects (databases, tablespaces the role owns): handled from
            // the database we connect to.
            "SELECT DISTINCT coalesce(d.datname, current_database())::text FROM pg_shdepend s \
             LEFT JOIN pg_database d ON d.oid = s.dbid \
             JOIN pg_roles r ON r.oid = s.refobjid \
             WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 \
             ORDER BY 1",
            &[&name],
        )
        .await?;
    column(&rows, 0)
}

/// A user's or group role's import ID: the role name, exactly as stored.
pub(crate) fn check_role_import_id(id: &str) -> Result<(), Diagnostics> {
    crate::pg::ident::validate_name(id).map_err(|e| {
        Diagnostic::error(
            "Invalid import ID",
            format!("The ID is the role name: {id:?} {e}."),
        )
        .into()
    })
}

/// What an import's catalog read found: the role, or an error naming what is missing.
pub(crate) fn imported<T>(
    read: Result<Option<T>, PgError>,
    noun: &str,
    id: &str,
) -> Result<T, Diagnostics> {
    let fail = |detail: String| -> Diagnostics {
        Diagnostic::error(format!("Cannot import PostgreSQL {noun}"), detail).into()
    };
    read.map_err(|e| fail(e.to_string()))?.ok_or_else(|| {
        fail(format!(
            "No role named {id:?} exists (names are case-sensitive)."
        ))
    })
}

/// A failed write that granted roles, to explain.
pub(crate) struct WriteFailure<'a> {
    pub action: &'a str,
    /// "user" or "role", in messages.
    pub noun: &'a str,
    pub name: &'a str,
    /// The roles the write grants to `name`.
    pub granted: &'a [String],
    /// Said when a role named in the configuration does not exist.
    pub missing_hint: &'a str,
}

/// Explains errors whose fix is on the admin's side; for a refused privilege it asks the
/// server which roles the login lacks ADMIN OPTION on and names only those, with the GRANT.
pub(crate) async fn explain(pg: &Pg, w: &WriteFailure<'_>, e: &PgError) -> Diagnostics {
    let mut detail = format!("{} {:?} failed: {e}", w.action, w.name);
    if e.is(&SqlState::INSUFFICIENT_PRIVILEGE) {
        match lacking_admin_option(pg, w.granted).await {
            Some((me, roles)) if !roles.is_empty() => {
                let grants: Vec<String> = roles
                    .iter()
                    .map(|r| {
                        format!(
                            "  GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;",
                            quote_ident(r),
                            quote_ident(&me)
                        )
                    })
                    .collect();
                let names: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
                detail.push_str(&format!(
                    "\n\nThe provider's login role {me:?} may not grant {}: on PostgreSQL 16 and \
                     later a role with CREATEROLE may grant only roles it holds WITH ADMIN OPTION. \
                     As a superuser, or a role holding ADMIN OPTION on them, run:\n{}\nThis lets \
                     it grant the role without becoming a member of it.",
                    names.join(", "),
                    grants.join("\n")
                ));
            }
            _ => detail.push_str(
                "\n\nThe provider's login role lacks a privilege: it needs CREATEROLE (on Amazon \
                 RDS the master user has it; a role with SUPERUSER set out of band can be altered \
                 only by a superuser), and on PostgreSQL 16 and later ADMIN OPTION on each role it \
                 grants (GRANT <role> TO <provider login> WITH ADMIN OPTION, INHERIT FALSE, SET \
                 FALSE).",
            ),
        }
    } else if e.is(&SqlState::UNDEFINED_OBJECT) {
        detail.push_str("\n\n");
        detail.push_str(w.missing_hint);
    } else if e.is(&SqlState::DUPLICATE_OBJECT) {
        detail.push_str(&format!(
            "\n\nA role named {:?} already exists: import it with `terraform import` (ID: the role name) instead of creating it.",
            w.name
        ));
    }
    Diagnostic::error(format!("Cannot {} PostgreSQL {}", w.action, w.noun), detail).into()
}

/// The roles of `granted` that the provider's login holds without ADMIN OPTION (PostgreSQL
/// 16+, where CREATEROLE alone no longer lets it grant them), and the login's name.
async fn lacking_admin_option(pg: &Pg, granted: &[String]) -> Option<(String, Vec<String>)> {
    if pg.server_version().await.ok()? < 160_000 {
        return None;
    }
    let rows = pg
        .query(
            None,
            "SELECT r FROM unnest($1::text[]) WITH ORDINALITY AS t(r, i) \
             WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \
                   THEN NOT pg_has_role(current_user, r::name, 'MEMBER WITH ADMIN OPTION') \
                   ELSE false END ORDER BY i",
            &[&granted],
        )
        .await
        .ok()?;
    let (me, _) = current_user(pg).await.ok()?;
    Some((me, column(&rows, 0).ok()?))
}

/// A role to drop, and how.
pub(crate) struct DropRole<'a> {
    pub name: &'a str,
    /// "role" or "user", in messages.
    pub noun: &'a str,
    /// Memberships the role holds now that are ours to remove before borrowing its privileges.
    pub leave_first: Vec<String>,
    /// A role the login must never reach through the borrowed privileges (`rds_iam`).
    pub guard: &'a str,
    pub reassign_owned_to: Option<&'a str>,
    pub drop_owned: bool,
}

/// Drops a role. With `reassign_owned_to` / `drop_owned` and objects to clean up, the role
/// first leaves `leave_first`; a non-superuser login then borrows the role's privileges for
/// REASSIGN / DROP OWNED. Whatever fails after that, the borrow and the memberships are put
/// back, so the login never keeps a membership it took.
pub(crate) async fn drop_role(pg: &Pg, d: &DropRole<'_>) -> Result<(), Diagnostics> {
    let noun = d.noun;
    let fail = |e: &PgError| -> Diagnostics {
        Diagnostic::error(
            format!("Cannot drop PostgreSQL {noun}"),
            format!("Dropping role {:?} failed: {e}", d.name),
        )
        .into()
    };
    let drop_sql = format!("DROP ROLE IF EXISTS {}", quote_ident(d.name));
    let dbs = dependent_databases(pg, d.name)
        .await
        .map_err(|e| fail(&e))?;
    let cleanup = d.reassign_owned_to.is_some() || d.drop_owned;
    let mut undo: Vec<String> = Vec::new();
    if !dbs.is_empty() && cleanup {
        let (me, superuser) = current_user(pg).await.map_err(|e| fail(&e))?;
        let prep: Vec<String> = d.leave_first.iter().map(|r| revoke(r, d.name)).collect();
        if !prep.is_empty() {
            pg.write(None, &prep).await.map_err(|e| fail(&e))?;
        }
        undo = d.leave_first.iter().map(|r| grant(r, d.name)).collect();
        if !superuser {
            // CASE: pg_has_role fails on a missing role, and AND does not short-circuit.
            let rows = pg
                .query(
                    None,
                    "SELECT CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = $2) \
                       THEN pg_has_role($1, $2, 'MEMBER') ELSE false END, \
                     pg_has_role(current_user, $1, 'USAGE')",
                    &[&d.name, &d.guard],
                )
                .await;
            let flags = rows.map(|rows| {
                let flag = |i: usize| {
                    rows.first()
                        .and_then(|r| r.try_get::<_, bool>(i).ok())
                        .unwrap_or(true)
                };
                (flag(0), flag(1))
            });
            let (guarded, held) = match flags {
                Ok(f) => f,
                Err(e) => {
                    let _ = pg.write(None, &undo).await;
                    return Err(fail(&e));
                }
            };
            if guarded {
                let _ = pg.write(None, &undo).await;
                return Err(Diagnostic::error(
                    format!("Cannot drop PostgreSQL {noun} safely"),
                    format!(
                        "{:?} is still a member of {:?} through a grant by another role or through a group. Borrowing its privileges for REASSIGN/DROP OWNED would make the provider's login {me:?} a member of {:?} too. Remove that membership first, or clean up the {noun}'s objects by hand.",
                        d.name, d.guard, d.guard
                    ),
                )
                .into());
            }
            if !held {
                let borrow = grant(d.name, &me);
                if let Err(e) = pg.write(None, &[borrow]).await {
                    let _ = pg.write(None, &undo).await;
                    return Err(fail(&e));
                }
                undo.insert(0, revoke(d.name, &me));
            }
        }
        for db in &dbs {
            let mut sql = Vec::new();
            if let Some(to) = d.reassign_owned_to {
                sql.push(format!(
                    "REASSIGN OWNED BY {} TO {}",
                    quote_ident(d.name),
                    quote_ident(to)
                ));
            }
            if d.drop_owned {
                sql.push(format!("DROP OWNED BY {}", quote_ident(d.name)));
            }
            if let Err(e) = pg.write(Some(db), &sql).await {
                let _ = pg.write(None, &undo).await;
                return Err(Diagnostic::error(
                    format!("Cannot drop PostgreSQL {noun}"),
                    format!(
                        "Cleaning up what {:?} owns in database {db:?} failed: {e}\n\nThe {noun}'s memberships were restored.",
                        d.name
                    ),
                )
                .into());
            }
        }
    }
    match pg.write(None, std::slice::from_ref(&drop_sql)).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // The role is still there: give back what was borrowed and restore memberships.
            if !undo.is_empty() {
                let _ = pg.write(None, &undo).await;
            }
            if e.is(&SqlState::DEPENDENT_OBJECTS_STILL_EXIST) {
                let remaining = dependent_databases(pg, d.name).await.unwrap_or(dbs);
                Err(Diagnostic::error(
                    format!("Cannot drop PostgreSQL {noun}: it still owns objects or holds privileges"),
                    format!(
                        "{e}\n\nDatabases involved: {}. Set reassign_owned_to (e.g. to the application's owner role) and/or drop_owned = true on this resource and apply before destroying, or clean up by hand.",
                        if remaining.is_empty() { "(unknown)".to_string() } else { remaining.join(", ") }
                    ),
                )
                .into())
            } else {
                Err(fail(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        for n in [
            "pg_x",
            "PG_monitor",
            "rds_iam",
            "rdsadmin2",
            "postgres",
            "Public",
            "none",
        ] {
            assert!(reserved(n).is_some(), "{n}");
        }
        for n in ["app_readonly", "mario.rossi@example.com", "rds", "pgx"] {
            assert!(reserved(n).is_none(), "{n}");
        }
    }

    #[test]
    fn grant_and_revoke_quote() {
        assert_eq!(grant("a\"b", "c d"), "GRANT \"a\"\"b\" TO \"c d\"");
        assert_eq!(revoke("r", "m"), "REVOKE \"r\" FROM \"m\"");
    }
}
