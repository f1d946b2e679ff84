//! rdsiam_postgres_default_privileges against real PostgreSQL (15 and 17 with Terraform 1.15.5
//! and 1.0.3; 13, 16 and 18 with 1.15.5) as a superuser admin and as an RDS-like admin: the
//! standard setup's "default privileges for future tables", drift, import, destroy, and the
//! error an admin gets when it may not act for the owner. Every step is checked in the
//! catalog; after every successful apply (and import) the state is compared with
//! pg_default_acl entry by entry ([`catalog::applied`]) and the re-plan must be empty.

use crate::support;

use support::catalog;
use support::postgres::{
    Admin, PG_MAJORS, PgCluster, RDS_ADMIN, provider_block, quote_ident, quote_literal, shared,
};
use support::{TF_VERSIONS, UNREACHABLE_PROVIDER, Workspace, failed_plan, hcl, provider_bin};

const DB: &str = "myapp";
/// An owner name that needs every kind of care: quotes, `/`, `@`, `.`, upper case.
const ODD_OWNER: &str = "Odd.Owner@\"x\"/Y_1";

fn major(pg: &PgCluster) -> u32 {
    pg.major().parse().unwrap_or(0)
}

/// What lets `admin` run ALTER DEFAULT PRIVILEGES FOR ROLE `owner`: the exact statement the
/// provider's error names.
fn needed_grant(pg: &PgCluster, owner: &str, admin: &str) -> String {
    if major(pg) >= 16 {
        format!(
            "GRANT {} TO {} WITH INHERIT TRUE, SET FALSE;",
            quote_ident(owner),
            quote_ident(admin)
        )
    } else {
        format!("GRANT {} TO {};", quote_ident(owner), quote_ident(admin))
    }
}

/// `schema|objtype|privilege|grantable` for every default-ACL entry granted to `grantee`.
fn default_acl(pg: &PgCluster, db: &str, grantee: &str) -> Vec<String> {
    let out = pg.psql(
        db,
        &format!(
            "SELECT coalesce(n.nspname, '') || '|' || d.defaclobjtype::text || '|' || a.privilege_type \
             || '|' || a.is_grantable::text \
             FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
             LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace \
             WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = {}) ORDER BY 1",
            quote_literal(grantee)
        ),
    );
    out.lines().map(str::to_string).collect()
}

fn tables_acl(grantable: bool) -> Vec<String> {
    let mut v: Vec<String> = ["DELETE", "INSERT", "SELECT", "UPDATE"]
        .iter()
        .map(|p| format!("public|r|{p}|{grantable}"))
        .collect();
    v.sort();
    v
}

fn expected_acl() -> Vec<String> {
    let mut v = vec![
        "|S|SELECT|true".to_string(),
        "|S|UPDATE|true".into(),
        "|S|USAGE|true".into(),
        "|f|EXECUTE|false".into(),
    ];
    v.extend(tables_acl(false));
    v.sort();
    v
}

fn config() -> String {
    format!(
        r#"
resource "rdsiam_postgres_user" "app_service" {{
  name = "app_service"
}}

resource "rdsiam_postgres_default_privileges" "tables" {{
  role        = rdsiam_postgres_user.app_service.name
  database    = "{DB}"
  schema      = "public"
  owner       = "app_owner"
  object_type = "tables"
  privileges  = ["SELECT", "INSERT", "UPDATE", "DELETE"]
}}

resource "rdsiam_postgres_default_privileges" "sequences" {{
  role              = rdsiam_postgres_user.app_service.name
  database          = "{DB}"
  owner             = "app_owner"
  object_type       = "sequences"
  privileges        = ["ALL"]
  with_grant_option = true
}}

resource "rdsiam_postgres_default_privileges" "functions" {{
  role        = rdsiam_postgres_user.app_service.name
  database    = "{DB}"
  owner       = {odd}
  object_type = "functions"
  privileges  = ["EXECUTE"]
}}
"#,
        odd = hcl(ODD_OWNER),
    )
}

fn setup(pg: &PgCluster, admin: Admin) {
    pg.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"),
    );
    pg.psql("postgres", &format!("CREATE DATABASE {DB}"));
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE app_owner NOLOGIN; CREATE ROLE {} NOLOGIN;",
            quote_ident(ODD_OWNER)
        ),
    );
    // PostgreSQL 15+ no longer lets everyone create in public (13 still does: PUBLIC holds
    // CREATE on it, so the grant changes nothing there).
    pg.psql(DB, "GRANT CREATE ON SCHEMA public TO app_owner");
    if admin == Admin::RdsLike {
        for owner in ["app_owner", ODD_OWNER] {
            pg.psql("postgres", &needed_grant(pg, owner, RDS_ADMIN));
        }
    }
}

fn cleanup(pg: &PgCluster) {
    pg.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"),
    );
    pg.psql(
        "postgres",
        &format!(
            "DROP ROLE IF EXISTS app_owner; DROP ROLE IF EXISTS {}; DROP ROLE IF EXISTS app_service;",
            quote_ident(ODD_OWNER)
        ),
    );
}

fn lifecycle(pg: &PgCluster, admin: Admin, version: &str) {
    let who = pg.login(admin);
    let step = |s: &str| format!("pg{}/{admin:?}/tf{version}: {s}", pg.major());
    cleanup(pg);
    setup(pg, admin);

    let mut ws = Workspace::new(version, provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    ws.write(
        "main.tf",
        &format!("{}{}", provider_block(pg, &who.user, ""), config()),
    );
    ws.ok(&["apply"]);
    let acl = |s: &str| {
        let mut v = default_acl(pg, DB, "app_service");
        v.sort();
        assert_eq!(v, expected_acl(), "{}", step(s));
    };
    acl("after create");
    catalog::applied(pg, &ws, &step("re-plan after create"));

    // The application role creates a table; the user can use it at once.
    pg.psql(
        DB,
        "SET ROLE app_owner; CREATE TABLE public.dp_orders (id int PRIMARY KEY, v text); RESET ROLE;",
    );
    let used = pg.psql(
        DB,
        "SET ROLE app_service; INSERT INTO public.dp_orders VALUES (1, 'a'); \
         UPDATE public.dp_orders SET v = 'b' WHERE id = 1; SELECT v FROM public.dp_orders; \
         DELETE FROM public.dp_orders WHERE id = 1; RESET ROLE;",
    );
    assert_eq!(used, "b", "{}", step("app_service uses the new table"));
    let (su, su_pw) = pg.superuser();
    let truncate = pg.try_psql(
        DB,
        su,
        su_pw,
        "SET ROLE app_service; TRUNCATE public.dp_orders;",
    );
    assert!(
        truncate.is_err_and(|e| e.contains("permission denied")),
        "{}",
        step("TRUNCATE was not granted")
    );
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("plan after the owner created a table")
    );

    // Drift: revoked out of band (as the owner's superuser), shown, repaired.
    pg.psql(
        DB,
        "ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public \
         REVOKE INSERT, DELETE ON TABLES FROM app_service; \
         ALTER DEFAULT PRIVILEGES FOR ROLE app_owner \
         REVOKE GRANT OPTION FOR USAGE ON SEQUENCES FROM app_service;",
    );
    let actions = ws.plan_actions("drift.tfplan");
    let of = |addr: &str| Workspace::actions_of(&actions, addr);
    assert_eq!(
        of("rdsiam_postgres_default_privileges.tables"),
        vec!["update"],
        "{}",
        step("revoked INSERT, DELETE")
    );
    assert_eq!(
        of("rdsiam_postgres_default_privileges.sequences"),
        vec!["update"],
        "{}",
        step("revoked a grant option")
    );
    assert_eq!(
        of("rdsiam_postgres_default_privileges.functions"),
        vec!["no-op"],
        "{}",
        step("untouched entry")
    );
    ws.ok(&["apply"]);
    acl("after repair");
    catalog::applied(pg, &ws, &step("re-plan after repair"));

    // Import: forget each entry, import it by ID, plan is empty.
    let odd_id = format!("app_service|{DB}||{ODD_OWNER}|functions");
    for (addr, id) in [
        (
            "rdsiam_postgres_default_privileges.tables",
            // With the optional privileges field.
            format!("app_service|{DB}|public|app_owner|tables|SELECT,INSERT,UPDATE,DELETE"),
        ),
        (
            "rdsiam_postgres_default_privileges.sequences",
            format!("app_service|{DB}||app_owner|sequences"),
        ),
        (
            "rdsiam_postgres_default_privileges.functions",
            odd_id.clone(),
        ),
    ] {
        ws.ok(&["state", "rm", addr]);
        ws.ok(&["import", addr, &id]);
    }
    let show = ws.show_json();
    let ids: Vec<String> = show["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["values"]["id"].as_str().map(str::to_string))
        .collect();
    assert!(ids.contains(&odd_id), "{}: {ids:?}", step("odd ID kept"));
    catalog::applied(pg, &ws, &step("plan after import"));
    ws.write(
        "ghost.tf",
        "resource \"rdsiam_postgres_default_privileges\" \"ghost\" {\n  role = \"nobody\"\n  database = \"myapp\"\n  owner = \"app_owner\"\n  object_type = \"tables\"\n  privileges = [\"SELECT\"]\n}\n",
    );
    let missing = ws.fails(&[
        "import",
        "rdsiam_postgres_default_privileges.ghost",
        "nobody|myapp||app_owner|tables",
    ]);
    ws.remove("ghost.tf");
    assert!(
        missing.combined().contains("no role named \"nobody\""),
        "{}: {missing}",
        step("import of a missing role")
    );

    // Destroy revokes; no privilege depends on app_service any more, so the user drops too.
    pg.psql(DB, "DROP TABLE public.dp_orders");
    ws.ok(&["destroy"]);
    assert!(
        default_acl(pg, DB, "app_service").is_empty(),
        "{}",
        step("entries left after destroy")
    );
    let left = pg.psql(
        DB,
        "SELECT count(*) FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
         WHERE a.grantee NOT IN (d.defaclrole, 0)",
    );
    assert_eq!(left, "0", "{}", step("any grantee left after destroy"));
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'app_service'"
        ),
        "0",
        "{}",
        step("app_service dropped")
    );
    cleanup(pg);
}

/// [`lifecycle`] as either admin with each of `versions` of Terraform.
fn matrix(pg: &PgCluster, versions: &[&str]) {
    for admin in [Admin::Superuser, Admin::RdsLike] {
        for &version in versions {
            lifecycle(pg, admin, version);
        }
    }
    pg.assert_no_roles_left(|r| r == RDS_ADMIN || r.starts_with("perm_"));
}

#[test]
fn default_privileges_lifecycle_pg15() {
    assert!(PG_MAJORS.contains(&"15"));
    matrix(shared("15"), TF_VERSIONS);
}

#[test]
fn default_privileges_lifecycle_pg17() {
    assert!(PG_MAJORS.contains(&"17"));
    matrix(shared("17"), TF_VERSIONS);
}

// 13, 16 and 18: the newest Terraform only (1.0.3 runs on 15 and 17), to keep CI time bounded.

#[test]
fn default_privileges_lifecycle_pg13() {
    matrix(shared("13"), &TF_VERSIONS[..1]);
}

#[test]
fn default_privileges_lifecycle_pg16() {
    matrix(shared("16"), &TF_VERSIONS[..1]);
}

#[test]
fn default_privileges_lifecycle_pg18() {
    matrix(shared("18"), &TF_VERSIONS[..1]);
}

/// An RDS-like admin that may not act for the owner gets an error naming the exact GRANT;
/// nothing is half-done; after the grant, apply works. The provider never grants it itself.
fn admin_lacking_membership(major: &str) {
    let pg = shared(major);
    let who = pg.login(Admin::RdsLike);
    let (owner, grantee, db) = ("perm_owner", "perm_Grantee.x", "perm_db");
    let drop_all = || {
        pg.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        );
        pg.psql(
            "postgres",
            &format!(
                "DROP ROLE IF EXISTS {owner}; DROP ROLE IF EXISTS {};",
                quote_ident(grantee)
            ),
        );
    };
    drop_all();
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {owner} NOLOGIN; CREATE ROLE {} NOLOGIN;",
            quote_ident(grantee)
        ),
    );
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_default_privileges\" \"p\" {{\n  role        = {}\n  database    = \"{db}\"\n  owner       = \"{owner}\"\n  schema      = \"public\"\n  object_type = \"tables\"\n  privileges  = [\"SELECT\"]\n}}\n",
            provider_block(pg, &who.user, ""),
            hcl(grantee)
        ),
    );
    let grant = needed_grant(pg, owner, RDS_ADMIN);
    let check_refused = |what: &str| {
        let out = ws.fails(&["apply"]);
        let text = out.combined();
        assert!(
            text.contains(&grant),
            "pg{major} {what}: {grant:?} missing:\n{text}"
        );
        assert!(
            default_acl(pg, db, grantee).is_empty(),
            "pg{major} {what}: half-done"
        );
        assert!(ws.read("terraform.tfstate").contains("\"resources\": []"));
        assert!(
            !pg.admin_is_member_of(RDS_ADMIN, owner),
            "pg{major} {what}: the provider granted itself the owner"
        );
    };
    check_refused("no membership");
    if major.parse::<u32>().unwrap_or(0) >= 16 {
        // SET without INHERIT is not what ALTER DEFAULT PRIVILEGES checks on 16+.
        pg.psql(
            "postgres",
            &format!("GRANT {owner} TO {RDS_ADMIN} WITH INHERIT FALSE, SET TRUE"),
        );
        let out = ws.fails(&["apply"]);
        assert!(out.combined().contains(&grant), "pg{major}: {out}");
        pg.psql("postgres", &format!("REVOKE {owner} FROM {RDS_ADMIN}"));
    }
    pg.psql("postgres", &grant);
    ws.ok(&["apply"]);
    assert_eq!(
        default_acl(pg, db, grantee),
        vec!["public|r|SELECT|false"],
        "pg{major}: after the grant"
    );
    catalog::applied(pg, &ws, &format!("pg{major}: re-plan"));
    ws.ok(&["destroy"]);
    assert!(default_acl(pg, db, grantee).is_empty(), "pg{major}");
    pg.psql("postgres", &format!("REVOKE {owner} FROM {RDS_ADMIN}"));
    drop_all();
}

#[test]
fn admin_lacking_membership_pg15() {
    admin_lacking_membership("15");
}

#[test]
fn admin_lacking_membership_pg17() {
    admin_lacking_membership("17");
}

#[test]
fn admin_lacking_membership_pg13() {
    admin_lacking_membership("13");
}

#[test]
fn admin_lacking_membership_pg16() {
    admin_lacking_membership("16");
}

#[test]
fn admin_lacking_membership_pg18() {
    admin_lacking_membership("18");
}

#[test]
fn bad_input_fails_plan_with_paths() {
    let config = [
        UNREACHABLE_PROVIDER,
        r#"resource "rdsiam_postgres_default_privileges" "bad" {
  role        = "app"
  database    = "myapp"
  schema      = "public"
  owner       = "app"
  object_type = "schemas"
  privileges  = ["SELECT", "usage"]
}
resource "rdsiam_postgres_default_privileges" "bad2" {
  role        = "app"
  database    = "myapp"
  owner       = "app_owner"
  object_type = "views"
  privileges  = ["ALL", "SELECT"]
}
"#,
    ]
    .concat();
    let out = failed_plan(&config);
    out.assert_mentions(&[
        "role and owner are the same",
        "database-wide only",
        "schema      = \"public\"",
        "is not a privilege on schemas",
        "Invalid object_type",
        "object_type = \"views\"",
        "list ALL alone",
        "write privileges in upper case: \"USAGE\"",
    ]);
}
