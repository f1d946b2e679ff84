//! `resource "rdsiam_postgres_role"`: a NOLOGIN group role that holds grants for its members
//! (`CREATE ROLE app_readonly NOLOGIN`), with the groups it belongs to, drift (a dropped role,
//! LOGIN or a privilege-escalating attribute set out of band) repaired, import by name and the
//! user's safe destroy.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::pg::ident::quote_ident;
use crate::pg::{Pg, PgError};
use crate::resources::managed::{CreateError, ManagedResource, Op, Postgres, unavailable};
use crate::resources::pg_roles::{
    self, DropRole, WriteFailure, check_role_import_id, create_preamble, current_user, drop_role,
    grant, imported, not_reserved, revoke, role_name, roles_of_current_user,
};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, Schema, Type, Value,
};
use crate::validators::pg_name;

pub struct PostgresRole;

/// The role attributes a group role never has: (attribute, catalog column, keyword).
const FLAGS: [(&str, &str, &str); 6] = [
    ("login", "rolcanlogin", "LOGIN"),
    ("superuser", "rolsuper", "SUPERUSER"),
    ("createdb", "rolcreatedb", "CREATEDB"),
    ("createrole", "rolcreaterole", "CREATEROLE"),
    ("replication", "rolreplication", "REPLICATION"),
    ("bypassrls", "rolbypassrls", "BYPASSRLS"),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleSpec {
    name: String,
    /// None = not configured; Some(empty) = configured empty (kept distinct for Terraform).
    roles: Option<BTreeSet<String>>,
    reassign_owned_to: Option<String>,
    #[serde(default)]
    drop_owned: bool,
    // Always false in configuration; read from the catalog so out-of-band changes show.
    #[serde(default)]
    login: bool,
    #[serde(default)]
    superuser: bool,
    #[serde(default)]
    createdb: bool,
    #[serde(default)]
    createrole: bool,
    #[serde(default)]
    replication: bool,
    #[serde(default)]
    bypassrls: bool,
}

impl RoleSpec {
    fn new(name: &str) -> RoleSpec {
        RoleSpec {
            name: name.to_string(),
            roles: None,
            reassign_owned_to: None,
            drop_owned: false,
            login: false,
            superuser: false,
            createdb: false,
            createrole: false,
            replication: false,
            bypassrls: false,
        }
    }

    fn managed_roles(&self) -> BTreeSet<&String> {
        self.roles.iter().flatten().collect()
    }

    fn flags(&self) -> [bool; 6] {
        [
            self.login,
            self.superuser,
            self.createdb,
            self.createrole,
            self.replication,
            self.bypassrls,
        ]
    }
}

struct Observed {
    flags: [bool; 6],
    member_of: BTreeSet<String>,
}

async fn observe(pg: &Pg, name: &str) -> Result<Option<Observed>, PgError> {
    let roles = pg.roles().await?;
    Ok(roles.by_name.get(name).map(|r| Observed {
        flags: r.flags,
        member_of: r.member_of.iter().map(|m| m.role.clone()).collect(),
    }))
}

/// The state as the database sees it, keeping only what this resource manages.
fn observed_spec(recorded: &RoleSpec, o: &Observed) -> RoleSpec {
    let [
        login,
        superuser,
        createdb,
        createrole,
        replication,
        bypassrls,
    ] = o.flags;
    RoleSpec {
        name: recorded.name.clone(),
        // Additive: report a managed membership only while it is still held.
        roles: recorded.roles.as_ref().map(|r| {
            r.iter()
                .filter(|r| o.member_of.contains(*r))
                .cloned()
                .collect()
        }),
        reassign_owned_to: recorded.reassign_owned_to.clone(),
        drop_owned: recorded.drop_owned,
        login,
        superuser,
        createdb,
        createrole,
        replication,
        bypassrls,
    }
}

fn create_sql(spec: &RoleSpec) -> Vec<String> {
    let mut sql = vec![format!(
        "CREATE ROLE {} WITH NOLOGIN",
        quote_ident(&spec.name)
    )];
    for r in spec.managed_roles() {
        sql.push(grant(r, &spec.name));
    }
    sql
}

fn update_sql(from: &RoleSpec, to: &RoleSpec) -> Vec<String> {
    let n = &to.name;
    let mut sql = Vec::new();
    // Only the attributes that differ: a CREATEROLE admin may not even name SUPERUSER,
    // REPLICATION or BYPASSRLS in ALTER ROLE unless it has them.
    let changed: Vec<String> = FLAGS
        .iter()
        .zip(from.flags().iter().zip(to.flags()))
        .filter(|(_, (a, b))| *a != b)
        .map(
            |((_, _, kw), (_, b))| {
                if b { kw.to_string() } else { format!("NO{kw}") }
            },
        )
        .collect();
    if !changed.is_empty() {
        sql.push(format!(
            "ALTER ROLE {} WITH {}",
            quote_ident(n),
            changed.join(" ")
        ));
    }
    let (old, new) = (from.managed_roles(), to.managed_roles());
    for r in old.difference(&new) {
        sql.push(revoke(r, n));
    }
    for r in new.difference(&old) {
        sql.push(grant(r, n));
    }
    sql
}

/// [`pg_roles::explain`] for a failed write of `spec`.
async fn explain(pg: &Pg, action: &str, spec: &RoleSpec, e: &PgError) -> Diagnostics {
    let granted: Vec<String> = spec.managed_roles().into_iter().cloned().collect();
    pg_roles::explain(
        pg,
        &WriteFailure {
            action,
            noun: "role",
            name: &spec.name,
            granted: &granted,
            missing_hint: "A role named in roles does not exist.",
        },
        e,
    )
    .await
}

/// The provider's login must never become a member of anything through this resource:
/// refuse to grant to a role it belongs to, and to make the group a member of the login
/// (its members could then act as the login).
async fn refuse_self(pg: &Pg, spec: &RoleSpec) -> Result<(), Diagnostics> {
    let unavailable = unavailable::<Postgres>;
    let (me, _) = current_user(pg).await.map_err(unavailable)?;
    let mine = roles_of_current_user(pg).await.map_err(unavailable)?;
    let (path, why) = if mine.contains(&spec.name) {
        (
            AttributePath::root("name"),
            format!(
                "The provider connects as {me:?}, which is a member of {:?}: granting roles to it would make {me:?} a member of them too.",
                spec.name
            ),
        )
    } else if let Some(r) = spec.managed_roles().into_iter().find(|r| **r == me) {
        (
            AttributePath::root("roles"),
            format!(
                "{r:?} is the provider's login: every member of {:?} could then act with the login's privileges.",
                spec.name
            ),
        )
    } else {
        return Ok(());
    };
    Err(Diagnostic::error(
        "Refusing to change a role the provider's login belongs to",
        format!("{why} Manage this role another way, or connect as a role that is not its member."),
    )
    .at(path)
    .into())
}

fn flag_attribute(name: &str, keyword: &str) -> Attribute {
    Attribute::bool(name)
        .default_value(Value::bool(false))
        .description(format!(
            "Always `false` (the default): read from the catalog so that `ALTER ROLE … {keyword}` made out of band shows in the plan, and the apply sets `NO{keyword}` again."
        ))
}

#[async_trait]
impl ManagedResource for PostgresRole {
    type Engine = Postgres;
    type Model = RoleSpec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_role";
    /// Resource identity: the import ID's fields (Terraform >= 1.12).
    const IDENTITY: &[(&str, bool)] = &[("name", true)];

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "A PostgreSQL group role: `CREATE ROLE … NOLOGIN`, never LOGIN, SUPERUSER, \
                 CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS. Give it privileges with \
                 `rdsiam_postgres_grant` and `rdsiam_postgres_default_privileges`, and make \
                 users members of it with `roles` on `rdsiam_postgres_user` or with \
                 `rdsiam_postgres_role_membership`: the recommended least-privilege setup. \
                 Drift (a dropped role, a revoked membership, an attribute set out of band) \
                 shows in the next plan. Import with the role name as ID.\n\nThe provider never \
                 makes its own login role a member of this role or of a role it grants.",
            )
            .attr(Attribute::string("id").computed().description("The role name."))
            .attr(
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .validate(pg_name())
                    .validate(not_reserved())
                    .description("Role name, kept exactly (case, dots, `@`, quotes). 1 to 63 bytes; `postgres`, `public`, `rds_*`, `rdsadmin*` and `pg_*` are refused. Changing it replaces the role."),
            )
            .attr(
                Attribute::set_of("roles", Type::String)
                    .optional()
                    .each(role_name())
                    .description("Roles this group is a member of, managed additively: memberships granted elsewhere are never revoked. On import, every current membership is recorded here."),
            )
            .attr(
                Attribute::string("reassign_owned_to")
                    .optional()
                    .validate(pg_name())
                    .description("On destroy, `REASSIGN OWNED BY` this role `TO` the given role in every database where it owns objects."),
            )
            .attr(
                Attribute::bool("drop_owned")
                    .default_value(Value::bool(false))
                    .description("On destroy, `DROP OWNED BY` the role in every database where it owns objects or holds privileges (default `false`): this revokes the group's grants. Runs after `reassign_owned_to`."),
            )
            .attr(flag_attribute("login", "LOGIN"))
            .attr(flag_attribute("superuser", "SUPERUSER"))
            .attr(flag_attribute("createdb", "CREATEDB"))
            .attr(flag_attribute("createrole", "CREATEROLE"))
            .attr(flag_attribute("replication", "REPLICATION"))
            .attr(flag_attribute("bypassrls", "BYPASSRLS")),
        )
    }

    fn validate(config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        // Here, not as schema validators: those also check the state, which holds what the
        // catalog says (drift), and a drifted state must still plan its repair.
        for (attr, _, keyword) in FLAGS {
            if config.get(attr).as_bool() == Some(true) {
                d.error_at(
                    AttributePath::root(attr),
                    format!("Invalid {attr}"),
                    format!(
                        "A group role is never {keyword}; only `false` is accepted (use rdsiam_postgres_user for a login)."
                    ),
                );
            }
        }
        let name = config.get("name").as_str();
        for (i, r) in config
            .get("roles")
            .as_list()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if r.as_str().is_some() && r.as_str() == name {
                d.error_at(
                    AttributePath::root("roles").index(i),
                    "Invalid roles",
                    "a role cannot be a member of itself",
                );
            }
        }
        d
    }

    fn id(spec: &RoleSpec) -> String {
        spec.name.clone()
    }

    async fn read(
        &self,
        op: &mut Op<'_, Pg>,
        recorded: RoleSpec,
    ) -> Result<Option<RoleSpec>, Diagnostics> {
        match observe(op.db, &recorded.name).await {
            Ok(o) => Ok(o.map(|o| observed_spec(&recorded, &o))),
            Err(e) => Err(Diagnostic::error(
                "Cannot read PostgreSQL role",
                format!("Reading role {:?} failed: {e}", recorded.name),
            )
            .into()),
        }
    }

    async fn create(&self, op: &mut Op<'_, Pg>, spec: RoleSpec) -> Result<RoleSpec, CreateError> {
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        let mut sql = create_preamble(pg).await.map_err(unavailable::<Postgres>)?;
        sql.extend(create_sql(&spec));
        match pg.write(None, &sql).await {
            Ok(()) => Ok(spec),
            Err(e) => Err(CreateError::of_write(
                e.commit_unknown(),
                explain(pg, "create", &spec, &e).await,
            )),
        }
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: RoleSpec,
        spec: RoleSpec,
    ) -> Result<RoleSpec, Diagnostics> {
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        let sql = update_sql(&prior, &spec);
        if !sql.is_empty()
            && let Err(e) = pg.write(None, &sql).await
        {
            return Err(explain(pg, "update", &spec, &e).await);
        }
        Ok(spec)
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, prior: RoleSpec) -> Result<(), Diagnostics> {
        let pg = op.db;
        let observed = observe(pg, &prior.name).await.map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Cannot drop PostgreSQL role",
                format!("Dropping role {:?} failed: {e}", prior.name),
            ))
        })?;
        let Some(o) = observed else {
            return Ok(());
        };
        drop_role(
            pg,
            &DropRole {
                name: &prior.name,
                noun: "role",
                leave_first: prior
                    .managed_roles()
                    .into_iter()
                    .filter(|r| o.member_of.contains(*r))
                    .cloned()
                    .collect(),
                guard: "rds_iam",
                reassign_owned_to: prior.reassign_owned_to.as_deref(),
                drop_owned: prior.drop_owned,
            },
        )
        .await
    }

    fn check_import_id(id: &str) -> Result<(), Diagnostics> {
        check_role_import_id(id)
    }

    async fn import(&self, op: &mut Op<'_, Pg>, id: &str) -> Result<Vec<RoleSpec>, Diagnostics> {
        let o = imported(observe(op.db, id).await, "role", id)?;
        if o.flags[0] {
            op.warnings.warning(
                "Imported role can log in",
                format!(
                    "{id:?} has LOGIN: rdsiam_postgres_role manages group roles, so the next apply sets NOLOGIN. Use rdsiam_postgres_user for a login role."
                ),
            );
        }
        let recorded = RoleSpec {
            roles: Some(o.member_of.clone()).filter(|r| !r.is_empty()),
            ..RoleSpec::new(id)
        };
        Ok(vec![observed_spec(&recorded, &o)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_the_import_id() {
        for n in ["app_readonly", "a|b,c%"] {
            crate::resources::managed::assert_identity_names_the_id::<PostgresRole>(
                &RoleSpec::new(n),
            );
        }
    }

    #[test]
    fn create_is_quoted_and_atomic() {
        let mut s = RoleSpec::new("app \"ro\"");
        s.roles = Some(["base".to_string()].into());
        assert_eq!(
            create_sql(&s),
            vec![
                "CREATE ROLE \"app \"\"ro\"\"\" WITH NOLOGIN",
                "GRANT \"base\" TO \"app \"\"ro\"\"\"",
            ]
        );
    }

    #[test]
    fn update_repairs_only_drifted_attributes() {
        let to = RoleSpec::new("g");
        let mut from = to.clone();
        assert!(update_sql(&from, &to).is_empty());
        from.login = true;
        from.createrole = true;
        from.roles = Some(["old".to_string()].into());
        let mut to2 = to.clone();
        to2.roles = Some(["new".to_string()].into());
        assert_eq!(
            update_sql(&from, &to2),
            vec![
                "ALTER ROLE \"g\" WITH NOLOGIN NOCREATEROLE",
                "REVOKE \"old\" FROM \"g\"",
                "GRANT \"new\" TO \"g\"",
            ]
        );
    }

    #[test]
    fn model_round_trips() {
        let mut s = RoleSpec::new("g");
        s.roles = Some(["a".to_string()].into());
        let ty = PostgresRole::schema().implied_type();
        let v = crate::tfplugin::to_value(&s, &ty).expect("encode");
        assert_eq!(v.get("login").as_bool(), Some(false));
        let back: RoleSpec = crate::tfplugin::from_value(&v).expect("decode");
        assert_eq!(back, s);
    }

    #[test]
    fn validation_names_attributes() {
        let validate = |cfg: &Value| {
            let mut d = PostgresRole::schema().validate(cfg);
            d.extend(PostgresRole::validate(cfg));
            d
        };
        let cfg = Value::object([
            ("name", Value::string("pg_readers")),
            ("roles", Value::Set(vec![Value::string("")])),
            ("login", Value::bool(true)),
            ("superuser", Value::bool(true)),
        ]);
        let mut paths: Vec<String> = validate(&cfg)
            .0
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect();
        paths.sort();
        assert_eq!(paths, vec!["login", "name", "roles[0]", "superuser"]);
        let self_member = Value::object([
            ("name", Value::string("g")),
            ("roles", Value::Set(vec![Value::string("g")])),
        ]);
        assert!(validate(&self_member).has_errors());
        let ok = Value::object([
            ("name", Value::string("app_readonly")),
            ("login", Value::bool(false)),
        ]);
        assert!(validate(&ok).is_empty());
    }
}
