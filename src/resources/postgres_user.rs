//! `resource "rdsiam_postgres_user"`: a PostgreSQL login role that authenticates with IAM —
//! `CREATE USER app WITH LOGIN; GRANT rds_iam TO app;` — created atomically, read back from
//! the catalog for drift, importable by name, and dropped safely.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::pg::ident::{quote_ident, quote_literal, validate_name};
use crate::pg::{Pg, PgError};
use crate::resources::managed::{CreateError, ManagedResource, Op, Postgres, unavailable};
use crate::resources::pg_roles::{
    self, DropRole, WriteFailure, check_role_import_id, create_preamble, current_user, drop_role,
    grant, imported, not_reserved, revoke, role_name, roles_of_current_user,
};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, Maybe, Schema, Type, Validator, Value,
};
use crate::validators::{pg_duration, pg_name, whole_number};

pub struct PostgresUser;

const DEFAULT_IAM_ROLE: &str = "rds_iam";

/// The resource's desired or recorded state as plain Rust.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSpec {
    name: String,
    #[serde(default = "yes")]
    iam_auth: bool,
    #[serde(default = "default_iam_role")]
    iam_role: String,
    #[serde(default = "no_limit")]
    connection_limit: i64,
    /// None = not configured; Some(empty) = configured empty (kept distinct for Terraform).
    roles: Option<BTreeSet<String>>,
    search_path: Option<Vec<String>>,
    statement_timeout: Option<String>,
    reassign_owned_to: Option<String>,
    #[serde(default)]
    drop_owned: bool,
    /// The role attributes of [`ROLE_ATTRIBUTES`] the role has; always planned as LOGIN only.
    #[serde(default)]
    role_attributes: Maybe<BTreeSet<String>>,
}

/// Role attributes a managed user must have exactly as planned: LOGIN, and none of the
/// privilege-escalating ones. Read back so an out-of-band `ALTER ROLE` shows in the plan.
const ROLE_ATTRIBUTES: [(&str, &str); 6] = [
    ("LOGIN", "rolcanlogin"),
    ("SUPERUSER", "rolsuper"),
    ("CREATEDB", "rolcreatedb"),
    ("CREATEROLE", "rolcreaterole"),
    ("REPLICATION", "rolreplication"),
    ("BYPASSRLS", "rolbypassrls"),
];

fn login_only() -> BTreeSet<String> {
    ["LOGIN".to_string()].into()
}

fn yes() -> bool {
    true
}

fn default_iam_role() -> String {
    DEFAULT_IAM_ROLE.to_string()
}

fn no_limit() -> i64 {
    -1
}

impl UserSpec {
    fn new(name: &str) -> UserSpec {
        UserSpec {
            name: name.to_string(),
            iam_auth: true,
            iam_role: default_iam_role(),
            connection_limit: no_limit(),
            roles: None,
            search_path: None,
            statement_timeout: None,
            reassign_owned_to: None,
            drop_owned: false,
            role_attributes: Maybe::Known(login_only()),
        }
    }

    fn managed_roles(&self) -> BTreeSet<&String> {
        self.roles.iter().flatten().collect()
    }
}

/// What the catalog says about a role.
struct Observed {
    connection_limit: i64,
    attributes: BTreeSet<String>,
    member_of: BTreeSet<String>,
    config: Vec<String>,
}

fn parse_search_path(s: &str) -> Vec<String> {
    // Stored as identifiers joined by ", ", quoted where needed: `"$user", public, "A,b"`.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur).trim().to_string());
            }
            c => cur.push(c),
        }
    }
    let last = cur.trim().to_string();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

fn config_value<'a>(config: &'a [String], key: &str) -> Option<&'a str> {
    config
        .iter()
        .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

async fn observe(pg: &Pg, name: &str) -> Result<Option<Observed>, PgError> {
    let roles = pg.roles().await?;
    let Some(r) = roles.by_name.get(name) else {
        return Ok(None);
    };
    Ok(Some(Observed {
        connection_limit: r.connection_limit,
        attributes: ROLE_ATTRIBUTES
            .iter()
            .zip(r.flags)
            .filter(|(_, on)| *on)
            .map(|((name, _), _)| name.to_string())
            .collect(),
        member_of: r.member_of.iter().map(|m| m.role.clone()).collect(),
        config: r.config.clone(),
    }))
}

/// The state as the database sees it, keeping only what this resource manages.
fn observed_spec(recorded: &UserSpec, o: &Observed) -> UserSpec {
    UserSpec {
        name: recorded.name.clone(),
        iam_auth: o.member_of.contains(&recorded.iam_role),
        iam_role: recorded.iam_role.clone(),
        connection_limit: o.connection_limit,
        // Additive: report a managed membership only while it is still held.
        roles: recorded.roles.as_ref().map(|r| {
            r.iter()
                .filter(|r| o.member_of.contains(*r))
                .cloned()
                .collect()
        }),
        search_path: config_value(&o.config, "search_path").map(parse_search_path),
        statement_timeout: config_value(&o.config, "statement_timeout").map(str::to_string),
        reassign_owned_to: recorded.reassign_owned_to.clone(),
        drop_owned: recorded.drop_owned,
        role_attributes: Maybe::Known(o.attributes.clone()),
    }
}

/// `ALTER ROLE … LOGIN NOCREATEROLE …` naming only the attributes that differ: PostgreSQL
/// refuses e.g. NOSUPERUSER from a non-superuser even when nothing would change.
fn set_role_attributes(
    name: &str,
    from: &BTreeSet<String>,
    to: &BTreeSet<String>,
) -> Option<String> {
    let changes: Vec<String> = ROLE_ATTRIBUTES
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| from.contains(*a) != to.contains(*a))
        .map(|a| {
            if to.contains(a) {
                a.to_string()
            } else {
                format!("NO{a}")
            }
        })
        .collect();
    (!changes.is_empty()).then(|| format!("ALTER ROLE {} {}", quote_ident(name), changes.join(" ")))
}

fn set_search_path(name: &str, path: &Option<Vec<String>>) -> String {
    match path {
        Some(p) if !p.is_empty() => format!(
            "ALTER ROLE {} SET search_path TO {}",
            quote_ident(name),
            p.iter()
                .map(|s| quote_literal(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("ALTER ROLE {} RESET search_path", quote_ident(name)),
    }
}

fn set_statement_timeout(name: &str, t: &Option<String>) -> String {
    match t {
        Some(t) => format!(
            "ALTER ROLE {} SET statement_timeout TO {}",
            quote_ident(name),
            quote_literal(t)
        ),
        None => format!("ALTER ROLE {} RESET statement_timeout", quote_ident(name)),
    }
}

/// The statements that create `spec`, in one transaction.
fn create_sql(spec: &UserSpec) -> Vec<String> {
    let mut sql = vec![format!(
        "CREATE ROLE {} WITH LOGIN CONNECTION LIMIT {}",
        quote_ident(&spec.name),
        spec.connection_limit
    )];
    if spec.iam_auth {
        sql.push(grant(&spec.iam_role, &spec.name));
    }
    for r in spec.managed_roles() {
        sql.push(grant(r, &spec.name));
    }
    if spec.search_path.is_some() {
        sql.push(set_search_path(&spec.name, &spec.search_path));
    }
    if spec.statement_timeout.is_some() {
        sql.push(set_statement_timeout(&spec.name, &spec.statement_timeout));
    }
    sql
}

/// The statements that turn `from` (as the database has it) into `to`.
fn update_sql(from: &UserSpec, to: &UserSpec) -> Vec<String> {
    let n = &to.name;
    let mut sql = Vec::new();
    if let (Maybe::Known(have), Maybe::Known(want)) = (&from.role_attributes, &to.role_attributes)
        && let Some(alter) = set_role_attributes(n, have, want)
    {
        sql.push(alter);
    }
    if from.connection_limit != to.connection_limit {
        sql.push(format!(
            "ALTER ROLE {} CONNECTION LIMIT {}",
            quote_ident(n),
            to.connection_limit
        ));
    }
    let had_iam = from.iam_auth.then_some(from.iam_role.as_str());
    let wants_iam = to.iam_auth.then_some(to.iam_role.as_str());
    if had_iam != wants_iam {
        if let Some(r) = had_iam {
            sql.push(revoke(r, n));
        }
        if let Some(r) = wants_iam {
            sql.push(grant(r, n));
        }
    }
    let (old, new) = (from.managed_roles(), to.managed_roles());
    for r in old.difference(&new) {
        // The IAM role may have moved from `roles` to `iam_auth` (e.g. after an import).
        if wants_iam != Some(r.as_str()) {
            sql.push(revoke(r, n));
        }
    }
    for r in new.difference(&old) {
        sql.push(grant(r, n));
    }
    if from.search_path != to.search_path {
        sql.push(set_search_path(n, &to.search_path));
    }
    if from.statement_timeout != to.statement_timeout {
        sql.push(set_statement_timeout(n, &to.statement_timeout));
    }
    sql
}

/// [`pg_roles::explain`] for a failed write of `spec`.
async fn explain(pg: &Pg, action: &str, spec: &UserSpec, e: &PgError) -> Diagnostics {
    let mut granted: Vec<String> = spec.managed_roles().into_iter().cloned().collect();
    if spec.iam_auth {
        granted.insert(0, spec.iam_role.clone());
    }
    pg_roles::explain(
        pg,
        &WriteFailure {
            action,
            noun: "user",
            name: &spec.name,
            granted: &granted,
            missing_hint: "A role named in iam_role or roles does not exist. On Amazon RDS rds_iam always exists; on plain PostgreSQL create it or set iam_role.",
        },
        e,
    )
    .await
}

/// Granting the IAM role to a role the provider's login already belongs to would put the
/// login into rds_iam transitively and lock it out (on RDS, rds_iam members can only log in
/// with IAM tokens). Refuse before touching anything.
async fn refuse_self(pg: &Pg, spec: &UserSpec) -> Result<(), Diagnostics> {
    let unavailable = unavailable::<Postgres>;
    let (me, _) = current_user(pg).await.map_err(unavailable)?;
    let mine = roles_of_current_user(pg).await.map_err(unavailable)?;
    let (path, culprit) = if mine.contains(&spec.name) {
        (AttributePath::root("name"), spec.name.clone())
    } else if let Some(r) = spec.managed_roles().into_iter().find(|r| **r == me) {
        (AttributePath::root("roles"), r.clone())
    } else if spec.iam_auth && spec.iam_role == me {
        // The new login would be a member of the provider's own role: it could SET ROLE to it.
        return Err(Diagnostic::error(
            "Refusing to grant the provider's own role",
            format!(
                "iam_role is {me:?}, the role the provider connects as. Granting it to {:?} would give that user every privilege of the provider's login (SET ROLE {me:?}). Use rds_iam (or another role made for IAM authentication).",
                spec.name
            ),
        )
        .at(AttributePath::root("iam_role"))
        .into());
    } else {
        return Ok(());
    };
    Err(Diagnostic::error(
        "Refusing to change a role the provider's login belongs to",
        format!(
            "The provider connects as {me:?}, which is (or would become) a member of {culprit:?}. Granting {:?} there would make {me:?} a member of it too and could lock it out. Manage this role another way, or connect as a role that is not its member.",
            spec.iam_role
        ),
    )
    .at(path)
    .into())
}

/// After an update, memberships granted by someone else survive our REVOKE (16+ tracks the
/// grantor): say so instead of reporting success and diffing forever.
async fn verify_applied(pg: &Pg, spec: &UserSpec) -> Result<(), Diagnostics> {
    let observed = observe(pg, &spec.name)
        .await
        .map_err(unavailable::<Postgres>)?;
    let Some(o) = observed else {
        return Err(Diagnostic::error(
            "PostgreSQL user vanished",
            format!("Role {:?} disappeared during the update.", spec.name),
        )
        .into());
    };
    let mut left = Vec::new();
    if !spec.iam_auth && o.member_of.contains(&spec.iam_role) {
        left.push(spec.iam_role.clone());
    }
    if left.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "Membership still present after REVOKE",
        format!(
            "{:?} is still a member of {} because another role granted it (PostgreSQL 16+ keeps one grant per grantor; the provider can revoke only its own). Revoke it as the granting role, e.g. REVOKE {} FROM {} GRANTED BY <grantor>.",
            spec.name,
            left.join(", "),
            left.iter().map(|r| quote_ident(r)).collect::<Vec<_>>().join(", "),
            quote_ident(&spec.name)
        ),
    )
    .into())
}

#[async_trait]
impl ManagedResource for PostgresUser {
    type Engine = Postgres;
    type Model = UserSpec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_user";
    /// Resource identity: the import ID's fields (Terraform >= 1.12).
    const IDENTITY: &[(&str, bool)] = &[("name", true)];

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "A PostgreSQL login role for IAM database authentication: `CREATE ROLE … WITH LOGIN` \
                 plus membership in `rds_iam`, in one transaction. Drift (a dropped role, a \
                 revoked `rds_iam`, changed settings) shows in the next plan. Import with the \
                 role name as ID.\n\nThe provider never makes its own login role a member of \
                 `rds_iam` or of a role it grants.",
            )
            .attr(Attribute::string("id").computed().description("The role name."))
            .attr(
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .validate(pg_name())
                    .validate(not_reserved())
                    .description("Role name, kept exactly (case, dots, `@`, quotes): the `DBUser` of the IAM token and of the `rds-db:connect` ARN. 1 to 63 bytes; `postgres`, `public`, `rds_*`, `rdsadmin*` and `pg_*` are refused. Changing it replaces the role."),
            )
            .attr(
                Attribute::bool("iam_auth")
                    .default_value(Value::bool(true))
                    .description("Member of `iam_role` so it logs in with IAM tokens (default `true`). On RDS a member of `rds_iam` cannot log in with a password."),
            )
            .attr(
                Attribute::string("iam_role")
                    .default_value(Value::string(DEFAULT_IAM_ROLE))
                    .validate(pg_name())
                    .description("The role that enables IAM authentication (default `rds_iam`). Lets plain PostgreSQL stand in for RDS in tests."),
            )
            .attr(
                Attribute::number("connection_limit")
                    .default_value(Value::int(-1))
                    .validate(whole_number(-1, "-1 (no limit)"))
                    .description("Maximum concurrent connections; `-1` (default) means no limit."),
            )
            .attr(
                Attribute::set_of("roles", Type::String)
                    .optional()
                    .each(role_name())
                    .description("Further roles this user is a member of, managed additively: memberships granted elsewhere are never revoked. On import, every current membership except `rds_iam` is recorded here, so list the ones to keep: a membership missing from the configuration shows as a removal in the plan."),
            )
            .attr(
                Attribute::list_of("search_path", Type::String)
                    .optional()
                    .validate(Validator::not_empty(
                        "An empty list cannot be stored; omit search_path to keep the server default.",
                    ))
                    .each(Validator::string(|s| {
                        validate_name(s)
                            .map_err(|_| format!("{s:?} is not a schema name (1 to 63 bytes)."))
                    }))
                    .description("`ALTER ROLE … SET search_path` (schema names, in order)."),
            )
            .attr(
                Attribute::string("statement_timeout")
                    .optional()
                    .validate(pg_duration())
                    .description("`ALTER ROLE … SET statement_timeout`, e.g. `30s`, `5min`, `1500ms`."),
            )
            .attr(
                Attribute::string("reassign_owned_to")
                    .optional()
                    .validate(pg_name())
                    .description("On destroy, `REASSIGN OWNED BY` this user `TO` the given role in every database where it owns objects."),
            )
            .attr(
                Attribute::set_of("role_attributes", Type::String)
                    .computed()
                    .description("The user's role attributes as the server reports them, among `LOGIN`, `SUPERUSER`, `CREATEDB`, `CREATEROLE`, `REPLICATION` and `BYPASSRLS`. A managed IAM user is always `LOGIN` and none of the others: an out-of-band `ALTER ROLE … NOLOGIN` (which locks the user out) or `CREATEROLE` shows as a change in the next plan, and apply repairs it."),
            )
            .attr(
                Attribute::bool("drop_owned")
                    .default_value(Value::bool(false))
                    .description("On destroy, `DROP OWNED BY` the user in every database where it owns objects or holds privileges (default `false`). Runs after `reassign_owned_to`."),
            ),
        )
    }

    fn validate(config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let name = config.get("name").as_str();
        let iam_role = config.get("iam_role").as_str().unwrap_or(DEFAULT_IAM_ROLE);
        for (i, r) in config
            .get("roles")
            .as_list()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let p = AttributePath::root("roles").index(i);
            if r.as_str() == Some(iam_role) {
                d.error_at(
                    p.clone(),
                    "Invalid roles",
                    format!("{iam_role:?} is managed by iam_auth; remove it from roles."),
                );
            }
            if r.as_str().is_some() && r.as_str() == name {
                d.error_at(p, "Invalid roles", "a role cannot be a member of itself");
            }
        }
        d
    }

    fn id(spec: &UserSpec) -> String {
        spec.name.clone()
    }

    fn refine_plan(planned: &mut UserSpec) {
        planned.role_attributes = Maybe::Known(login_only());
    }

    async fn read(
        &self,
        op: &mut Op<'_, Pg>,
        recorded: UserSpec,
    ) -> Result<Option<UserSpec>, Diagnostics> {
        match observe(op.db, &recorded.name).await {
            Ok(o) => Ok(o.map(|o| observed_spec(&recorded, &o))),
            Err(e) => Err(Diagnostic::error(
                "Cannot read PostgreSQL user",
                format!("Reading role {:?} failed: {e}", recorded.name),
            )
            .into()),
        }
    }

    async fn create(
        &self,
        op: &mut Op<'_, Pg>,
        mut spec: UserSpec,
    ) -> Result<UserSpec, CreateError> {
        spec.role_attributes = Maybe::Known(login_only());
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        let mut sql = create_preamble(pg).await.map_err(unavailable::<Postgres>)?;
        sql.extend(create_sql(&spec));
        match pg.write(None, &sql).await {
            Ok(()) => Ok(spec),
            // Pg::write asks the server whether a COMMIT that lost its connection committed;
            // only when it cannot tell does this happen. Returning no state would orphan a
            // role that did commit (the next apply: "role already exists").
            Err(e) => Err(CreateError::of_write(
                e.commit_unknown(),
                explain(pg, "create", &spec, &e).await,
            )),
        }
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: UserSpec,
        spec: UserSpec,
    ) -> Result<UserSpec, Diagnostics> {
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        if let Err(e) = pg.write(None, &update_sql(&prior, &spec)).await {
            return Err(explain(pg, "update", &spec, &e).await);
        }
        verify_applied(pg, &spec).await?;
        Ok(spec)
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, prior: UserSpec) -> Result<(), Diagnostics> {
        drop_user(op.db, &prior).await
    }

    fn check_import_id(id: &str) -> Result<(), Diagnostics> {
        check_role_import_id(id)
    }

    async fn import(&self, op: &mut Op<'_, Pg>, id: &str) -> Result<Vec<UserSpec>, Diagnostics> {
        let o = imported(observe(op.db, id).await, "user", id)?;
        let recorded = UserSpec {
            // Every membership besides the IAM role becomes managed, so a config that lists
            // them plans clean.
            roles: Some(
                o.member_of
                    .iter()
                    .filter(|r| *r != DEFAULT_IAM_ROLE)
                    .cloned()
                    .collect(),
            )
            .filter(|r: &BTreeSet<String>| !r.is_empty()),
            ..UserSpec::new(id)
        };
        Ok(vec![observed_spec(&recorded, &o)])
    }
}

async fn drop_user(pg: &Pg, spec: &UserSpec) -> Result<(), Diagnostics> {
    let observed = observe(pg, &spec.name).await.map_err(|e| -> Diagnostics {
        Diagnostic::error(
            "Cannot drop PostgreSQL user",
            format!("Dropping role {:?} failed: {e}", spec.name),
        )
        .into()
    })?;
    let Some(observed) = observed else {
        return Ok(());
    };
    // The user leaves the IAM role (and its managed roles) before a non-superuser admin
    // borrows its privileges, so the admin never gains rds_iam, even transitively.
    let mut leave_first = Vec::new();
    if observed.member_of.contains(&spec.iam_role) {
        leave_first.push(spec.iam_role.clone());
    }
    leave_first.extend(
        spec.managed_roles()
            .into_iter()
            .filter(|r| observed.member_of.contains(*r))
            .cloned(),
    );
    drop_role(
        pg,
        &DropRole {
            name: &spec.name,
            noun: "user",
            leave_first,
            guard: &spec.iam_role,
            reassign_owned_to: spec.reassign_owned_to.as_deref(),
            drop_owned: spec.drop_owned,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_the_import_id() {
        for n in ["mario.rossi@example.com", "a|b,c%"] {
            crate::resources::managed::assert_identity_names_the_id::<PostgresUser>(
                &UserSpec::new(n),
            );
        }
    }

    fn spec(name: &str) -> UserSpec {
        UserSpec::new(name)
    }

    #[test]
    fn create_is_quoted_and_atomic() {
        let mut s = spec("a\"b");
        s.roles = Some(["readers".to_string()].into());
        s.search_path = Some(vec!["$user".into(), "app's".into()]);
        s.statement_timeout = Some("30s".into());
        assert_eq!(
            create_sql(&s),
            vec![
                "CREATE ROLE \"a\"\"b\" WITH LOGIN CONNECTION LIMIT -1",
                "GRANT \"rds_iam\" TO \"a\"\"b\"",
                "GRANT \"readers\" TO \"a\"\"b\"",
                "ALTER ROLE \"a\"\"b\" SET search_path TO '$user', 'app''s'",
                "ALTER ROLE \"a\"\"b\" SET statement_timeout TO '30s'",
            ]
        );
    }

    #[test]
    fn injection_stays_a_name() {
        let sql = create_sql(&spec("x; DROP ROLE admin; --"));
        assert_eq!(
            sql.first().map(String::as_str),
            Some("CREATE ROLE \"x; DROP ROLE admin; --\" WITH LOGIN CONNECTION LIMIT -1")
        );
    }

    #[test]
    fn update_only_touches_differences() {
        let from = spec("app");
        let mut to = from.clone();
        assert!(update_sql(&from, &to).is_empty());
        to.iam_auth = false;
        to.connection_limit = 5;
        to.roles = Some(["r".to_string()].into());
        assert_eq!(
            update_sql(&from, &to),
            vec![
                "ALTER ROLE \"app\" CONNECTION LIMIT 5",
                "REVOKE \"rds_iam\" FROM \"app\"",
                "GRANT \"r\" TO \"app\"",
            ]
        );
    }

    #[test]
    fn role_attribute_drift_is_repaired_naming_only_what_differs() {
        let mut from = spec("app");
        from.role_attributes = Maybe::Known(["CREATEROLE".to_string()].into());
        let to = spec("app");
        assert_eq!(
            update_sql(&from, &to),
            vec!["ALTER ROLE \"app\" LOGIN NOCREATEROLE"]
        );
        // A state written before role_attributes existed changes nothing.
        from.role_attributes = Maybe::Null;
        assert!(update_sql(&from, &to).is_empty());
    }

    #[test]
    fn search_path_parsing() {
        assert_eq!(
            parse_search_path("\"$user\", public, \"A,\"\"b\""),
            vec!["$user", "public", "A,\"b"]
        );
        assert_eq!(parse_search_path(""), Vec::<String>::new());
    }

    #[test]
    fn validation_names_attributes() {
        let validate = |cfg: &Value| {
            let mut d = PostgresUser::schema().validate(cfg);
            d.extend(PostgresUser::validate(cfg));
            d
        };
        let cfg = Value::object([
            ("name", Value::string("pg_monitor2")),
            ("roles", Value::Set(vec![Value::string("rds_iam")])),
            ("connection_limit", Value::int(-5)),
            ("statement_timeout", Value::string("soon")),
        ]);
        let d = validate(&cfg);
        let mut paths: Vec<String> =
            d.0.iter()
                .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
                .collect();
        paths.sort();
        assert_eq!(
            paths,
            vec!["connection_limit", "name", "roles[0]", "statement_timeout"]
        );
        let ok = Value::object([
            ("name", Value::string("mario.rossi@example.com")),
            ("statement_timeout", Value::string("1500ms")),
        ]);
        assert!(validate(&ok).is_empty());
    }
}
