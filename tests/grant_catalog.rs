//! Issue 12's reproductions, written first: grants must mean exactly what the catalog says.
//! Real Terraform 1.15.5, real PostgreSQL (13, 15, 16 as the case needs), the RDS-like admin
//! (not a superuser) as the provider's login throughout.
//!
//! The usual fixture: a database owned by the admin with a schema `app` owned by a migration
//! role the admin is NOT a member of; the migration role owns the tables and gives the admin
//! its privileges WITH GRANT OPTION (also for later tables, through default privileges), so
//! the admin's grants are recorded with the admin as grantor.
//!
//! After every successful apply the state is compared with the catalog object by object
//! (`aclexplode`, [`catalog::applied`]) and the re-plan must be empty.

use crate::support;

use serde_json::Value as Json;
use support::catalog::{self, applied};
use support::postgres::{PgCluster, RDS_ADMIN, RDS_ADMIN_PASSWORD, quote_ident, shared};
use support::{Workspace, hcl, provider_bin};

const TF: &str = "1.15.5";
const SCHEMA: &str = "app";

fn provider_block(pg: &PgCluster) -> String {
    support::postgres::provider_block(pg, RDS_ADMIN, "")
}

fn workspace(pg: &PgCluster) -> Workspace {
    pg.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
    let mut ws = Workspace::new(TF, provider_bin());
    ws.set_env("PGPASSWORD", RDS_ADMIN_PASSWORD);
    ws
}

/// Runs `sql` in `db` as `role` (SET ROLE from the superuser).
#[track_caller]
fn as_role(pg: &PgCluster, db: &str, role: &str, sql: &str) -> String {
    pg.psql(
        db,
        &format!("SET ROLE {};\n{sql};\nRESET ROLE;", quote_ident(role)),
    )
}

/// Runs `sql` in `db` as the RDS-like admin (its own login).
#[track_caller]
fn as_admin(pg: &PgCluster, db: &str, sql: &str) -> String {
    pg.try_psql(db, RDS_ADMIN, RDS_ADMIN_PASSWORD, sql)
        .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
}

/// Drops `db` and `roles` if a previous run left them.
fn drop_leftovers(pg: &PgCluster, db: &str, roles: &[&str]) {
    pg.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(db)),
    );
    for r in roles {
        pg.psql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {}", quote_ident(r)),
        );
    }
}

/// The usual fixture (see the module docs), one per test: names derive from `tag`.
struct Fixture<'a> {
    pg: &'a PgCluster,
    db: String,
    /// The migration role: owns schema `app` and its tables.
    owner: String,
    /// The grantee.
    role: String,
}

impl<'a> Fixture<'a> {
    fn new(pg: &'a PgCluster, tag: &str, tables: &[&str]) -> Fixture<'a> {
        pg.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
        let f = Fixture {
            pg,
            db: format!("gc_{tag}"),
            owner: format!("gc_{tag}_migrator"),
            role: format!("gc_{tag}_app"),
        };
        drop_leftovers(pg, &f.db, &[&f.owner, &f.role]);
        pg.psql(
            "postgres",
            &format!(
                "CREATE ROLE {o} NOLOGIN; CREATE ROLE {r} NOLOGIN; \
                 CREATE DATABASE {d} OWNER {a}; REVOKE ALL ON DATABASE {d} FROM PUBLIC;",
                o = quote_ident(&f.owner),
                r = quote_ident(&f.role),
                d = quote_ident(&f.db),
                a = quote_ident(RDS_ADMIN),
            ),
        );
        pg.psql(
            &f.db,
            &format!(
                "CREATE SCHEMA {s} AUTHORIZATION {o}",
                s = quote_ident(SCHEMA),
                o = quote_ident(&f.owner)
            ),
        );
        as_role(
            pg,
            &f.db,
            &f.owner,
            &format!(
                "GRANT USAGE ON SCHEMA {s} TO {a} WITH GRANT OPTION; \
                 ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT ALL ON TABLES TO {a} WITH GRANT OPTION;",
                s = quote_ident(SCHEMA),
                a = quote_ident(RDS_ADMIN)
            ),
        );
        for t in tables {
            f.owner_creates(t);
        }
        assert!(
            !pg.admin_is_member_of(RDS_ADMIN, &f.owner),
            "fixture: the admin must not be a member of the owner"
        );
        f
    }

    fn owner_creates(&self, table: &str) {
        as_role(
            self.pg,
            &self.db,
            &self.owner,
            &format!(
                "CREATE TABLE {}.{} (id int)",
                quote_ident(SCHEMA),
                quote_ident(table)
            ),
        );
    }

    /// `app.<table>` for every table of the schema on which the role holds `privilege`
    /// (explicit ACL entries, per object).
    fn tables_granting(&self, privilege: &str) -> Vec<String> {
        catalog::acl_per_object(self.pg, &self.db, "table", SCHEMA, &[], &self.role)
            .into_iter()
            .filter(|o| o.explicit.contains_key(privilege))
            .map(|o| o.name)
            .collect()
    }

    /// `app.<table>: [privileges]` for every table where the role has any explicit entry.
    fn tables_granting_anything(&self) -> Vec<String> {
        catalog::acl_per_object(self.pg, &self.db, "table", SCHEMA, &[], &self.role)
            .into_iter()
            .filter(|o| !o.explicit.is_empty())
            .map(|o| format!("{}: {:?}", o.name, o.explicit.keys().collect::<Vec<_>>()))
            .collect()
    }

    fn grant(&self, name: &str, extra: &str, privileges: &[&str]) -> String {
        format!(
            r#"
resource "rdsiam_postgres_grant" {name:?} {{
  role        = {role}
  database    = {db}
  object_type = "table"
  schema      = {schema}
  privileges  = {privileges}
{extra}
}}
"#,
            role = hcl(&self.role),
            db = hcl(&self.db),
            schema = hcl(SCHEMA),
            privileges = serde_json::to_string(privileges).unwrap_or_default(),
        )
    }

    fn drop(&self) {
        drop_leftovers(self.pg, &self.db, &[&self.owner, &self.role]);
    }
}

/// Terraform output on one line, without the dev_overrides warning every run prints.
fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    const START: &str = "Warning: Provider development overrides are in effect";
    const END: &str = "incompatible with published releases.";
    let mut out = s.clone();
    while let Some(a) = out.find(START) {
        match out[a..].find(END) {
            Some(b) => out.replace_range(a..a + b + END.len(), ""),
            None => break,
        }
    }
    out.trim().to_string()
}

// ---- 1. Later tables hide revokes ----

fn later_table_hides_revoke(major: &str) {
    let pg = shared(major);
    let f = Fixture::new(pg, &format!("later{major}"), &["t_a", "t_b"]);
    let ws = workspace(pg);
    let main = |p: &[&str]| format!("{}{}", provider_block(pg), f.grant("tables", "", p));
    ws.write("main.tf", &main(&["SELECT", "INSERT"]));
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    assert_eq!(f.tables_granting("INSERT"), ["app.t_a", "app.t_b"]);

    f.owner_creates("t_later");
    ws.write("main.tf", &main(&["SELECT"]));
    ws.ok(&["apply"]);
    let left = f.tables_granting("INSERT");
    assert!(
        left.is_empty(),
        "pg{major}: INSERT dropped from the config after a later table, apply said done, \
         but these tables still grant INSERT to {}: {left:?}",
        f.role
    );
    applied(pg, &ws, "after dropping INSERT");
    ws.ok(&["destroy"]);
    let left = f.tables_granting_anything();
    assert!(left.is_empty(), "pg{major}: after destroy: {left:?}");
    f.drop();
}

crate::per_major!(
    later_table_hides_revoke:
    later_table_hides_revoke_pg13 = "13",
    later_table_hides_revoke_pg15 = "15",
    later_table_hides_revoke_pg16 = "16",
    later_table_hides_revoke_pg17 = "17",
    later_table_hides_revoke_pg18 = "18",
);

/// Destroy after the owner created a table must still revoke everything from the old tables.
#[test]
fn destroy_after_later_table_revokes_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "destroy_later", &["t_a", "t_b"]);
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block(pg),
            f.grant("tables", "", &["SELECT", "INSERT"])
        ),
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    f.owner_creates("t_later");
    let out = ws.ok(&["destroy"]);
    let left = f.tables_granting_anything();
    assert!(
        left.is_empty(),
        "destroy after a later table said {:?} but left privileges of {} on: {left:?}",
        out.stdout
            .lines()
            .find(|l| l.contains("Destroy complete") || l.contains("Destruction complete"))
            .unwrap_or_default(),
        f.role
    );
    // What the user then does, and what the leftovers break.
    let drop = pg.try_psql(
        &f.db,
        pg.superuser().0,
        pg.superuser().1,
        &format!("DROP ROLE {}", quote_ident(&f.role)),
    );
    assert!(drop.is_ok(), "DROP ROLE after destroy: {drop:?}");
    f.drop();
}

/// `objects = [...]` after one named table was dropped: destroy still revokes on the others.
#[test]
fn named_objects_after_one_dropped_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "named_dropped", &["t_a", "t_b"]);
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block(pg),
            f.grant(
                "named",
                "  objects = [\"t_a\", \"t_b\"]",
                &["SELECT", "INSERT"]
            )
        ),
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    as_role(pg, &f.db, &f.owner, "DROP TABLE app.t_b");
    ws.ok(&["destroy"]);
    let left = f.tables_granting_anything();
    assert!(
        left.is_empty(),
        "destroy after the named table t_b was dropped left privileges of {} on: {left:?}",
        f.role
    );
    f.drop();
}

// ---- 2. Warnings taken as success ----

/// The apply of a grant PostgreSQL turns into a no-op (the admin holds the privilege only
/// through PUBLIC) must either fail naming the object and the missing grant option, or warn
/// and settle (empty re-plan). Never success followed by a perpetual diff.
fn no_op_grant_is_not_success(pg: &PgCluster, ws: &Workspace, object: &str, what: &str) {
    let out = ws.tf(&["apply"]);
    let text = one_line(&out.combined());
    if out.success() {
        let replan = ws.plan_detailed();
        assert!(
            replan.code == 0,
            "pg{}: {what}: apply reported success although PostgreSQL granted nothing \
             (no ACL entry for the role), and the re-plan wants it again (exit {}): \
             perpetual diff.\napply: {text}\nre-plan: {}",
            pg.major(),
            replan.code,
            one_line(&replan.stdout)
        );
        assert!(
            text.contains("Warning:"),
            "pg{}: {what}: settled without a warning: {text}",
            pg.major()
        );
        applied(pg, ws, what);
    } else {
        let lower = text.to_lowercase();
        assert!(
            text.contains(object) && lower.contains("grant option"),
            "pg{}: {what}: the error must name {object:?} and the missing grant option: {text}",
            pg.major()
        );
    }
}

/// The `public` schema of a database owned by another role: on PostgreSQL 13 owned by
/// `postgres` with `=UC/postgres`, on 15+ by `pg_database_owner` with `=U`. The RDS-like admin
/// holds USAGE only through PUBLIC, so `GRANT USAGE ON SCHEMA public` only warns.
fn public_schema_usage_through_public(major: &str) {
    let pg = shared(major);
    let (db, owner, role) = (
        format!("gc_pub{major}"),
        format!("gc_pub{major}_owner"),
        format!("gc_pub{major}_app"),
    );
    pg.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
    drop_leftovers(pg, &db, &[&owner, &role]);
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {owner} NOLOGIN; CREATE ROLE {role} NOLOGIN; CREATE DATABASE {db} OWNER {owner};"
        ),
    );
    let acl = pg.psql(
        &db,
        "SELECT nspowner::regrole::text || ' ' || nspacl::text FROM pg_namespace WHERE nspname = 'public'",
    );
    let expected = if major == "13" {
        "postgres {postgres=UC/postgres,=UC/postgres}"
    } else {
        "pg_database_owner {pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}"
    };
    assert_eq!(acl, expected, "fixture: PostgreSQL {major}'s public schema");
    let admin = catalog::acl_per_object(pg, &db, "schema", "public", &[], RDS_ADMIN);
    assert!(
        admin.len() == 1 && admin[0].explicit.is_empty() && admin[0].public.contains("USAGE"),
        "fixture: the admin holds USAGE on public only through PUBLIC: {admin:?}"
    );
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_grant\" \"usage\" {{\n  role        = {}\n  database    = {}\n  object_type = \"schema\"\n  schema      = \"public\"\n  privileges  = [\"USAGE\"]\n}}\n",
            provider_block(pg),
            hcl(&role),
            hcl(&db)
        ),
    );
    no_op_grant_is_not_success(
        pg,
        &ws,
        "public",
        "USAGE on schema public (PUBLIC has USAGE)",
    );
    let _ = ws.tf(&["destroy"]);
    drop_leftovers(pg, &db, &[&owner, &role]);
}

crate::per_major!(
    public_schema_usage_through_public:
    public_schema_usage_through_public_pg13 = "13",
    public_schema_usage_through_public_pg15 = "15",
);

/// A database owned by another role, PUBLIC holding CONNECT (`=Tc`): the admin connects
/// through PUBLIC and its `GRANT CONNECT` only warns.
fn database_connect_through_public(major: &str) {
    let pg = shared(major);
    let (db, owner, role) = (
        format!("gc_conn{major}"),
        format!("gc_conn{major}_owner"),
        format!("gc_conn{major}_app"),
    );
    pg.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
    drop_leftovers(pg, &db, &[&owner, &role]);
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {owner} NOLOGIN; CREATE ROLE {role} NOLOGIN; CREATE DATABASE {db} OWNER {owner};"),
    );
    let acl = catalog::acl_per_object(pg, &db, "database", "", &[], RDS_ADMIN);
    assert!(
        acl.len() == 1 && acl[0].explicit.is_empty() && acl[0].public.contains("CONNECT"),
        "fixture: the admin holds CONNECT only through PUBLIC: {acl:?}"
    );
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_grant\" \"connect\" {{\n  role        = {}\n  database    = {}\n  object_type = \"database\"\n  privileges  = [\"CONNECT\"]\n}}\n",
            provider_block(pg),
            hcl(&role),
            hcl(&db)
        ),
    );
    no_op_grant_is_not_success(pg, &ws, &db, "CONNECT on a database where PUBLIC has =Tc");
    let _ = ws.tf(&["destroy"]);
    drop_leftovers(pg, &db, &[&owner, &role]);
}

crate::per_major!(
    database_connect_through_public:
    database_connect_through_public_pg13 = "13",
    database_connect_through_public_pg15 = "15",
    database_connect_through_public_pg18 = "18",
);

// ---- 3. The grantee's own tables block its grant ----

/// The grantee runs its own migrations: it owns a table in the schema. Update and destroy of
/// the all-tables grant must still work (and leave nothing behind on the other tables).
#[test]
fn grantee_owns_a_table_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "own", &["t_a"]);
    as_role(
        pg,
        &f.db,
        &f.owner,
        &format!(
            "GRANT USAGE, CREATE ON SCHEMA app TO {}",
            quote_ident(&f.role)
        ),
    );
    let ws = workspace(pg);
    let main = |p: &[&str]| format!("{}{}", provider_block(pg), f.grant("tables", "", p));
    ws.write("main.tf", &main(&["SELECT"]));
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    as_role(pg, &f.db, &f.role, "CREATE TABLE app.t_mine (id int)");

    ws.write("main.tf", &main(&["SELECT", "INSERT"]));
    let out = ws.tf(&["apply"]);
    assert!(
        out.success(),
        "update of an all-tables grant whose grantee owns app.t_mine failed: {}",
        one_line(&out.combined())
    );
    applied(pg, &ws, "update");
    let out = ws.tf(&["destroy"]);
    assert!(
        out.success(),
        "destroy of an all-tables grant whose grantee owns app.t_mine failed: {}",
        one_line(&out.combined())
    );
    let left = f.tables_granting_anything();
    // The grantee's own table carries its owner entry only if it has a non-default ACL.
    let left: Vec<&String> = left
        .iter()
        .filter(|l| !l.starts_with("app.t_mine"))
        .collect();
    assert!(left.is_empty(), "after destroy: {left:?}");
    as_role(pg, &f.db, &f.role, "DROP TABLE app.t_mine");
    f.drop();
}

/// The same grantee-owned table, then straight to destroy (no update first).
#[test]
fn grantee_owns_a_table_destroy_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "own_destroy", &["t_a"]);
    as_role(
        pg,
        &f.db,
        &f.owner,
        &format!(
            "GRANT USAGE, CREATE ON SCHEMA app TO {}",
            quote_ident(&f.role)
        ),
    );
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block(pg),
            f.grant("tables", "", &["SELECT", "INSERT"])
        ),
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    as_role(pg, &f.db, &f.role, "CREATE TABLE app.t_mine (id int)");
    applied(pg, &ws, "after the grantee created its own table");
    let out = ws.tf(&["destroy"]);
    assert!(
        out.success(),
        "destroy of an all-tables grant whose grantee owns app.t_mine failed: {}",
        one_line(&out.combined())
    );
    let left = f.tables_granting_anything();
    let left: Vec<&String> = left
        .iter()
        .filter(|l| !l.starts_with("app.t_mine"))
        .collect();
    assert!(left.is_empty(), "after destroy: {left:?}");
    as_role(pg, &f.db, &f.role, "DROP TABLE app.t_mine");
    f.drop();
}

// ---- 4. Plans that don't say what is wrong ----

/// Drift after an out-of-band REVOKE on one table: the plan names that table.
#[test]
fn drift_plan_names_the_table_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "drift", &["t_a", "drifted_orders"]);
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block(pg),
            f.grant("tables", "", &["SELECT", "INSERT"])
        ),
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    as_admin(
        pg,
        &f.db,
        &format!(
            "REVOKE INSERT ON app.drifted_orders FROM {}",
            quote_ident(&f.role)
        ),
    );
    let plan = ws.plan_detailed();
    assert_eq!(plan.code, 2, "drift must show as a change: {plan}");
    assert!(
        plan.stdout.contains("drifted_orders"),
        "the plan does not name the table that lacks INSERT (drifted_orders): {}",
        one_line(&plan.stdout)
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "repair");
    ws.ok(&["destroy"]);
    f.drop();
}

/// A REVOKE PostgreSQL turns into a no-op (the privilege was also granted by another role, the
/// owner): the apply fails naming the object, the grantor and the statement to run, changes
/// nothing, and converges once that grantor revoked it.
fn revoke_of_another_grantors_privilege(major: &str) {
    let pg = shared(major);
    let f = Fixture::new(pg, &format!("other_grantor{major}"), &["t_a"]);
    let ws = workspace(pg);
    let main = |p: &[&str]| format!("{}{}", provider_block(pg), f.grant("tables", "", p));
    ws.write("main.tf", &main(&["SELECT", "INSERT"]));
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");
    let role = quote_ident(&f.role);
    as_role(
        pg,
        &f.db,
        &f.owner,
        &format!("GRANT INSERT ON app.t_a TO {role}"),
    );
    ws.write("main.tf", &main(&["SELECT"]));
    let out = ws.tf(&["apply"]);
    let text = one_line(&out.combined());
    let fix = format!("REVOKE INSERT ON TABLE \"app\".\"t_a\" FROM {role}");
    assert!(
        !out.success()
            && text.contains("app.t_a")
            && text.contains(&format!("granted by {}", f.owner))
            && text.contains(&fix),
        "pg{major}: a REVOKE that left another grantor's INSERT must fail naming it and {fix:?}: {text}"
    );
    assert_eq!(f.tables_granting("SELECT"), ["app.t_a"], "nothing changed");
    as_role(
        pg,
        &f.db,
        &f.owner,
        &format!("REVOKE INSERT ON app.t_a FROM {role}"),
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "after the owner revoked its grant");
    assert!(f.tables_granting("INSERT").is_empty());
    ws.ok(&["destroy"]);
    f.drop();
}

crate::per_major!(
    revoke_of_another_grantors_privilege:
    revoke_of_another_grantors_privilege_pg13 = "13",
    revoke_of_another_grantors_privilege_pg16 = "16",
);

/// An authoritative grant's plan says what it will revoke, object by object; the apply
/// revokes exactly that.
#[test]
fn authoritative_plan_names_what_it_revokes_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "auth_plan", &["t_a", "t_extra"]);
    as_admin(
        pg,
        &f.db,
        &format!("GRANT DELETE ON app.t_extra TO {}", quote_ident(&f.role)),
    );
    let ws = workspace(pg);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block(pg),
            f.grant("tables", "  authoritative = true", &["SELECT"])
        ),
    );
    let plan = ws.plan_detailed();
    let text = one_line(&plan.combined());
    assert_eq!(plan.code, 2, "{text}");
    assert!(
        text.contains("Warning:") && text.contains("app.t_extra also holds DELETE"),
        "the plan of an authoritative grant must name what it revokes: {text}"
    );
    ws.ok(&["apply"]);
    applied(pg, &ws, "authoritative create");
    assert!(f.tables_granting("DELETE").is_empty());
    ws.ok(&["destroy"]);
    assert!(f.tables_granting_anything().is_empty());
    f.drop();
}

/// A grant on a schema or database that does not exist warns at plan time (it may be
/// created by the same apply), and the apply fails naming it.
#[test]
fn plan_warns_about_a_missing_schema_or_database_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "missing", &["t_a"]);
    let ws = workspace(pg);
    let configs = [
        (
            "schema \"gone\"",
            f.grant("t", "", &["SELECT"]).replace("\"app\"", "\"gone\""),
        ),
        (
            "database \"gc_no_such_db\"",
            f.grant("t", "", &["SELECT"])
                .replace(&hcl(&f.db), "\"gc_no_such_db\""),
        ),
    ];
    for (what, config) in configs {
        ws.write("main.tf", &format!("{}{config}", provider_block(pg)));
        let plan = ws.plan_detailed();
        let text = one_line(&plan.combined());
        assert!(
            plan.code == 2
                && text.contains("Warning: Grant target does not exist")
                && text.contains(what),
            "plan for a missing {what}: exit {}: {text}",
            plan.code
        );
        let out = ws.tf(&["apply"]);
        let text = one_line(&out.combined());
        assert!(
            !out.success() && text.contains(what),
            "apply on a missing {what}: {text}"
        );
    }
    f.drop();
}

/// MAINTAIN on a server older than 17: `terraform plan` fails (exit 1) with a diagnostic
/// naming MAINTAIN and the server version — for the grant and the default privileges.
fn maintain_fails_at_plan(major: &str) {
    let pg = shared(major);
    let f = Fixture::new(pg, &format!("maint{major}"), &["t_a"]);
    let configs = [
        ("rdsiam_postgres_grant", f.grant("m", "", &["MAINTAIN"])),
        (
            "rdsiam_postgres_default_privileges",
            format!(
                "resource \"rdsiam_postgres_default_privileges\" \"m\" {{\n  role        = {}\n  database    = {}\n  schema      = \"app\"\n  owner       = {}\n  object_type = \"tables\"\n  privileges  = [\"MAINTAIN\"]\n}}\n",
                hcl(&f.role),
                hcl(&f.db),
                hcl(&f.owner)
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (resource, config) in configs {
        let ws = workspace(pg);
        ws.write("main.tf", &format!("{}{config}", provider_block(pg)));
        let plan = ws.plan_detailed();
        let text = one_line(&plan.combined());
        // The diagnostic, not the echoed configuration: text after "Error:".
        let diag = text.split_once("Error:").map(|(_, d)| d).unwrap_or("");
        if plan.code != 1 || !diag.contains("MAINTAIN") || !diag.contains(major) {
            failures.push(format!(
                "{resource}: MAINTAIN on PostgreSQL {major}: plan exit {} (want 1 with a \
                 diagnostic naming MAINTAIN and {major}): {text}",
                plan.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    f.drop();
}

crate::per_major!(
    maintain_fails_at_plan:
    maintain_fails_at_plan_pg15 = "15",
    maintain_fails_at_plan_pg16 = "16",
);

// ---- 5. SQL from state ----

struct Tamper<'a> {
    pg: &'a PgCluster,
    db: String,
    owner: String,
    role: String,
    victim: String,
    ws: Workspace,
}

/// A default-privileges resource applied by the RDS-like admin (member of the owner, as it
/// must be), and a role `victim` the tampered state tries to drop.
fn tamper_setup<'a>(pg: &'a PgCluster, tag: &str) -> Tamper<'a> {
    pg.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
    let t = Tamper {
        pg,
        db: format!("gc_{tag}"),
        owner: format!("gc_{tag}_owner"),
        role: format!("gc_{tag}_app"),
        victim: format!("gc_{tag}_victim"),
        ws: workspace(pg),
    };
    drop_leftovers(pg, &t.db, &[&t.owner, &t.role, &t.victim]);
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {o} NOLOGIN; CREATE ROLE {r} NOLOGIN; CREATE ROLE {v} NOLOGIN; \
             CREATE DATABASE {d} OWNER {a}; GRANT {o} TO {a};",
            o = t.owner,
            r = t.role,
            v = t.victim,
            d = t.db,
            a = RDS_ADMIN
        ),
    );
    t.ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_default_privileges\" \"t\" {{\n  role        = {}\n  database    = {}\n  schema      = \"public\"\n  owner       = {}\n  object_type = \"tables\"\n  privileges  = [\"SELECT\"]\n}}\n",
            provider_block(pg),
            hcl(&t.role),
            hcl(&t.db),
            hcl(&t.owner)
        ),
    );
    t.ws.ok(&["apply"]);
    applied(pg, &t.ws, "create");
    t
}

impl Tamper<'_> {
    /// Rewrites the resource's attributes in terraform.tfstate with `edit`.
    fn edit_state(&self, edit: impl Fn(&mut Json)) {
        let mut state: Json =
            serde_json::from_str(&self.ws.read("terraform.tfstate")).unwrap_or_default();
        let attrs = &mut state["resources"][0]["instances"][0]["attributes"];
        assert!(attrs.is_object(), "state layout: {state}");
        edit(attrs);
        self.ws.write(
            "terraform.tfstate",
            &serde_json::to_string_pretty(&state).unwrap_or_default(),
        );
    }

    /// `apply -refresh=false` on the tampered state: the injected statement must not run and
    /// the apply must fail with a diagnostic about the stored state. Returns what went wrong.
    fn check(&self, what: &str) -> Vec<String> {
        let out = self.ws.tf(&["apply", "-refresh=false"]);
        let text = one_line(&out.combined());
        let mut wrong = Vec::new();
        if !self.pg.role_exists(&self.victim) {
            wrong.push(format!(
                "{what}: the statement injected through the state RAN: role {} was dropped \
                 (apply exit {}): {text}",
                self.victim, out.code
            ));
        }
        let diag = text.split_once("Error:").map(|(_, d)| d).unwrap_or("");
        if out.success() || !diag.to_lowercase().contains("state") {
            wrong.push(format!(
                "{what}: apply -refresh=false must fail with a diagnostic about the stored \
                 state; exit {}: {text}",
                out.code
            ));
        }
        wrong
    }

    fn drop(&self) {
        let _ = self.pg.try_psql(
            "postgres",
            self.pg.superuser().0,
            self.pg.superuser().1,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db),
        );
        drop_leftovers(self.pg, &self.db, &[&self.role, &self.victim]);
        self.pg.psql(
            "postgres",
            &format!("REVOKE {} FROM {RDS_ADMIN}", self.owner),
        );
        drop_leftovers(self.pg, &self.db, &[&self.owner]);
    }
}

/// `privileges` read from a tampered state reach ALTER DEFAULT PRIVILEGES … REVOKE unchecked
/// (they are upper-cased: the unquoted victim name folds back to lower case).
#[test]
fn tampered_default_privileges_state_privileges_pg15() {
    let pg = shared("15");
    let t = tamper_setup(pg, "tamper_priv");
    assert!(pg.role_exists(&t.victim));
    let injected = format!("INSERT ON TABLES FROM PUBLIC; DROP ROLE {}; --", t.victim);
    t.edit_state(|a| {
        a["privileges"] = serde_json::json!(["SELECT", injected]);
    });
    let wrong = t.check("privileges");
    t.drop();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `owner` and `schema` from a tampered state: quoted today, so nothing runs, but a value
/// configuration would reject (longer than 63 bytes) must be refused as well.
#[test]
fn tampered_default_privileges_state_names_pg15() {
    let pg = shared("15");
    let mut wrong = Vec::new();
    for attr in ["owner", "schema"] {
        let t = tamper_setup(pg, &format!("tamper_{attr}"));
        let injected = format!(
            "x\"; DROP ROLE {}; -- {}",
            t.victim, "padding beyond the 63 bytes of a PostgreSQL name"
        );
        assert!(injected.len() > 63);
        t.edit_state(|a| {
            a[attr] = Json::String(injected.clone());
        });
        wrong.extend(t.check(attr));
        // The state may now name the tampered value: forget it before dropping the fixture.
        let _ =
            t.ws.tf(&["state", "rm", "rdsiam_postgres_default_privileges.t"]);
        pg.psql(
            &t.db,
            &format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE ALL ON TABLES FROM {}",
                t.owner, t.role
            ),
        );
        t.drop();
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- 6. Default privileges: every write checked, a missing target said at plan time ----

/// A default-privileges resource on tables `owner` creates, in `schema` or database-wide.
fn default_privileges(
    name: &str,
    (role, db, owner): (&str, &str, &str),
    schema: Option<&str>,
    privileges: &[&str],
) -> String {
    let schema = schema.map_or(String::new(), |s| format!("  schema      = {}\n", hcl(s)));
    format!(
        "\nresource \"rdsiam_postgres_default_privileges\" {name:?} {{\n  role        = {}\n  \
         database    = {}\n  owner       = {}\n{schema}  object_type = \"tables\"\n  \
         privileges  = {}\n}}\n",
        hcl(role),
        hcl(db),
        hcl(owner),
        serde_json::to_string(privileges).unwrap_or_default(),
    )
}

impl Fixture<'_> {
    /// Lets the admin run ALTER DEFAULT PRIVILEGES FOR ROLE `role` (a member of it).
    fn admin_acts_for(&self, role: &str) {
        let (r, a) = (quote_ident(role), quote_ident(RDS_ADMIN));
        self.pg.psql("postgres", &format!("GRANT {r} TO {a}"));
    }

    fn names(&self) -> (&str, &str, &str) {
        (&self.role, &self.db, &self.owner)
    }

    /// The role's entry for tables the owner creates in `schema` (database-wide: None).
    fn default_acl(&self, schema: Option<&str>) -> std::collections::BTreeMap<String, bool> {
        catalog::default_acl_of(self.pg, &self.db, &self.owner, schema, "r", &self.role)
    }
}

/// PostgreSQL adds per-schema default privileges to the database-wide ones, so a per-schema
/// REVOKE cannot take away what the database-wide entry grants (PostgreSQL's ALTER DEFAULT
/// PRIVILEGES page). Removing SELECT from a schema's resource while another grants it database-wide:
/// the apply succeeds (the schema's entry no longer holds it; moving a privilege from one
/// resource to the other must work) but warns that the role still receives SELECT on the
/// schema's new tables, naming the database-wide REVOKE that would stop it.
fn schema_revoke_under_database_wide_default(major: &str) {
    let pg = shared(major);
    let f = Fixture::new(pg, &format!("dpwide{major}"), &[]);
    f.admin_acts_for(&f.owner);
    let ws = workspace(pg);
    let main = |p: &[&str]| {
        let wide = default_privileges("wide", f.names(), None, &["SELECT"]);
        let app = default_privileges("app", f.names(), Some(SCHEMA), p);
        format!("{}{wide}{app}", provider_block(pg))
    };
    ws.write("main.tf", &main(&["SELECT", "INSERT"]));
    ws.ok(&["apply"]);
    applied(pg, &ws, "create");

    ws.write("main.tf", &main(&["INSERT"]));
    let text = one_line(&ws.ok(&["apply"]).combined());
    let fix = format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE SELECT ON TABLES FROM {}",
        quote_ident(&f.owner),
        quote_ident(&f.role)
    );
    assert_eq!(
        f.default_acl(Some(SCHEMA)).keys().collect::<Vec<_>>(),
        ["INSERT"]
    );
    f.owner_creates("t_new");
    assert_eq!(
        f.tables_granting("SELECT"),
        ["app.t_new"],
        "pg{major}: PostgreSQL no longer adds the database-wide entry to the schema's"
    );
    assert!(
        text.contains("Warning:") && text.contains(&fix),
        "pg{major}: SELECT removed from the schema's entry: apply said done without a word, but {} \
         still receives SELECT on new tables in {SCHEMA} (the database-wide entry grants it). \
         Want a warning naming {fix:?}: {text}",
        f.role
    );
    applied(pg, &ws, "after removing SELECT from the schema's entry");
    ws.ok(&["destroy"]);
    assert!(f.default_acl(None).is_empty() && f.default_acl(Some(SCHEMA)).is_empty());
    f.drop();
}

crate::per_major!(
    schema_revoke_under_database_wide_default:
    schema_revoke_under_database_wide_default_pg13 = "13",
    schema_revoke_under_database_wide_default_pg15 = "15",
    schema_revoke_under_database_wide_default_pg17 = "17",
);

/// A database, schema, owner or role that does not exist: `terraform plan` warns, naming it
/// and the attribute; the apply fails naming it; once they exist, the apply works.
#[test]
fn default_privileges_plan_warns_missing_pg15() {
    let pg = shared("15");
    let f = Fixture::new(pg, "dpmissing15", &[]);
    f.admin_acts_for(&f.owner);
    let (db, ghost, owner) = (
        format!("{}_later", f.db),
        format!("{}_later", f.role),
        format!("{}_later", f.owner),
    );
    drop_leftovers(pg, &db, &[&ghost, &owner]);
    let ws = workspace(pg);
    let config = [
        default_privileges("no_db", (&f.role, &db, &f.owner), None, &["SELECT"]),
        default_privileges("no_schema", f.names(), Some("later"), &["SELECT"]),
        default_privileges("no_role", (&ghost, &f.db, &f.owner), None, &["SELECT"]),
        default_privileges("no_owner", (&f.role, &f.db, &owner), None, &["INSERT"]),
    ];
    ws.write(
        "main.tf",
        &format!("{}{}", provider_block(pg), config.concat()),
    );
    let plan = ws.plan_detailed();
    let text = one_line(&plan.combined());
    let want = [
        format!("no database named {db:?}"),
        format!("no schema named \"later\" in database {:?}", f.db),
        format!("no role named {ghost:?}"),
        format!("no role named {owner:?} (the owner)"),
    ];
    let missing: Vec<&String> = want.iter().filter(|w| !text.contains(w.as_str())).collect();
    assert!(
        plan.code == 2
            && missing.is_empty()
            && text.contains("the apply fails unless it exists by then"),
        "plan exit {} (want 2) must warn about {missing:?}: {text}",
        plan.code
    );
    let text = one_line(&ws.fails(&["apply"]).combined());
    for name in [&db, &"later".to_string(), &ghost, &owner] {
        assert!(
            text.contains(&format!("{name:?}")),
            "apply error must name {name}: {text}"
        );
    }
    pg.psql(
        "postgres",
        &format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(&db),
            quote_ident(RDS_ADMIN)
        ),
    );
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {} NOLOGIN; CREATE ROLE {} NOLOGIN",
            quote_ident(&ghost),
            quote_ident(&owner)
        ),
    );
    f.admin_acts_for(&owner);
    let schema = format!(
        "CREATE SCHEMA later AUTHORIZATION {}",
        quote_ident(&f.owner)
    );
    pg.psql(&f.db, &schema);
    ws.ok(&["apply"]);
    applied(pg, &ws, "once everything exists");
    ws.ok(&["destroy"]);
    drop_leftovers(pg, &db, &[&ghost, &owner]);
    f.drop();
}
