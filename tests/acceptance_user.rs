//! rdsiam_postgres_user against real PostgreSQL (15 and 17) driven by real Terraform
//! (1.15.5 and 1.0.3), as a superuser admin and as an RDS-like admin. Every step is checked
//! in the catalog.

use crate::support;

use serde_json::Value as Json;
use support::postgres::{
    Admin, PG_MAJORS, PgCluster, RDS_ADMIN, provider_block, provider_block_aws, quote_ident,
    quote_literal, shared,
};
use support::{
    FixedIam, TF_VERSIONS, UNREACHABLE_PROVIDER, Workspace, failed_plan, hcl, provider_bin,
};

/// The names from the issue: e-mail, mixed case, a quote, an injection attempt.
const NAMES: &[&str] = &[
    "mario.rossi@example.com",
    "Mixed.Case",
    "a\"b",
    "x; DROP ROLE admin; --",
];

fn users_config() -> String {
    let names: Vec<String> = NAMES.iter().map(|n| hcl(n)).collect();
    format!(
        r#"
resource "rdsiam_postgres_user" "names" {{
  for_each = toset([{names}])
  name     = each.value
}}

resource "rdsiam_postgres_user" "app" {{
  name              = "app_service"
  connection_limit  = 5
  roles             = ["app_readers"]
  search_path       = ["app", "$user", "public"]
  statement_timeout = "30s"
}}
"#,
        names = names.join(", ")
    )
}

fn q(pg: &PgCluster, sql: &str) -> String {
    pg.psql("postgres", sql)
}

/// A direct pg_auth_members row (any grantor).
fn direct_member(pg: &PgCluster, member: &str, role: &str) -> bool {
    q(
        pg,
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = {} AND u.rolname = {}",
            quote_literal(role),
            quote_literal(member)
        ),
    ) != "0"
}

/// "The admin never joins rds_iam": no membership row for the admin, and (for non-superusers)
/// no usable membership either.
/// On 16+ the RDS-like admin holds rds_iam WITH ADMIN OPTION, INHERIT FALSE, SET FALSE by
/// design: a pg_auth_members row that grants no membership, which admin_is_member_of ignores.
fn assert_admin_outside_rds_iam(pg: &PgCluster, admin: Admin, user: &str, step: &str) {
    match admin {
        Admin::Superuser => assert!(
            !direct_member(pg, user, "rds_iam"),
            "{step}: admin {user} has a pg_auth_members row for rds_iam"
        ),
        Admin::RdsLike => assert!(
            !pg.admin_is_member_of(user, "rds_iam"),
            "{step}: admin {user} is a member of rds_iam"
        ),
    }
}

fn assert_users_present(pg: &PgCluster, step: &str) {
    for n in NAMES.iter().chain(["app_service"].iter()) {
        assert!(pg.role_exists(n), "{step}: role {n:?} missing");
        assert!(
            direct_member(pg, n, "rds_iam"),
            "{step}: {n:?} not in rds_iam"
        );
        let login = q(
            pg,
            &format!(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = {}",
                quote_literal(n)
            ),
        );
        assert_eq!(login, "t", "{step}: {n:?} cannot log in");
    }
    let app = q(
        pg,
        "SELECT rolconnlimit || '|' || array_to_string(rolconfig, ';') FROM pg_roles WHERE rolname = 'app_service'",
    );
    assert_eq!(
        app, "5|search_path=app, \"$user\", public;statement_timeout=30s",
        "{step}: app_service settings"
    );
    assert!(direct_member(pg, "app_service", "app_readers"), "{step}");
}

fn assert_users_gone(pg: &PgCluster, step: &str) {
    for n in NAMES.iter().chain(["app_service"].iter()) {
        assert!(!pg.role_exists(n), "{step}: role {n:?} left behind");
    }
}

fn resource_values(show: &Json) -> Vec<Json> {
    show["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r["values"].clone())
        .collect()
}

fn lifecycle(major: &str, admin: Admin, version: &str) {
    let pg = shared(major);
    let who = pg.login(admin);
    let step = |s: &str| format!("pg{major}/{admin:?}/tf{version}: {s}");
    // Created by the login itself, as an RDS master user would: on 16+ that gives it the
    // ADMIN OPTION needed to grant the role.
    q(pg, "DROP ROLE IF EXISTS app_readers");
    pg.try_psql(
        "postgres",
        &who.user,
        &who.password,
        "CREATE ROLE app_readers NOLOGIN",
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let mut ws = Workspace::new(version, provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    ws.write(
        "main.tf",
        &format!("{}{}", provider_block(pg, &who.user, ""), users_config()),
    );
    ws.ok(&["apply"]);
    assert_users_present(pg, &step("after create"));
    assert!(pg.role_exists(&who.user), "{}", step("admin dropped?!"));
    assert_admin_outside_rds_iam(pg, admin, &who.user, &step("after create"));

    let show = ws.show_json();
    let values = resource_values(&show);
    assert_eq!(
        values.len(),
        NAMES.len() + 1,
        "{}",
        step("resources in state")
    );
    for v in &values {
        assert_eq!(v["iam_auth"], true);
        assert_eq!(v["iam_role"], "rds_iam");
        assert_eq!(v["id"], v["name"]);
    }
    assert_eq!(ws.plan_exit_code(), 0, "{}", step("re-plan after create"));

    // Out-of-band changes: each must show up as drift and be repaired.
    // Made as the login that granted the memberships: on 16+ a REVOKE by anyone else removes
    // nothing (pg_auth_members rows carry their grantor).
    pg.try_psql(
        "postgres",
        &who.user,
        &who.password,
        &format!(
            "REVOKE rds_iam FROM {}; DROP ROLE {}; ALTER ROLE app_service CONNECTION LIMIT 3; \
             ALTER ROLE app_service RESET statement_timeout; REVOKE app_readers FROM app_service",
            quote_ident("mario.rossi@example.com"),
            quote_ident("Mixed.Case")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!direct_member(pg, "mario.rossi@example.com", "rds_iam"));
    let planned = ws.plan_actions("drift.tfplan");
    let actions = |addr: &str| Workspace::actions_of(&planned, addr);
    assert_eq!(
        actions("rdsiam_postgres_user.names[\"Mixed.Case\"]"),
        vec!["create"],
        "{}",
        step("dropped role")
    );
    assert_eq!(
        actions("rdsiam_postgres_user.names[\"mario.rossi@example.com\"]"),
        vec!["update"],
        "{}",
        step("revoked rds_iam")
    );
    assert_eq!(
        actions("rdsiam_postgres_user.app"),
        vec!["update"],
        "{}",
        step("altered settings")
    );
    assert_eq!(
        actions("rdsiam_postgres_user.names[\"a\\\"b\"]"),
        vec!["no-op"],
        "{}",
        step("untouched role")
    );
    ws.ok(&["apply"]);
    assert_users_present(pg, &step("after repair"));
    assert_eq!(ws.plan_exit_code(), 0, "{}", step("re-plan after repair"));

    // Import: forget a user, import it by name, plan is empty.
    let addr = "rdsiam_postgres_user.names[\"a\\\"b\"]";
    ws.ok(&["state", "rm", addr]);
    ws.ok(&["import", addr, "a\"b"]);
    assert_eq!(ws.plan_exit_code(), 0, "{}", step("plan after import"));
    ws.ok(&["state", "rm", "rdsiam_postgres_user.app"]);
    ws.ok(&["import", "rdsiam_postgres_user.app", "app_service"]);
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("plan after import of app")
    );
    if version != "1.0.3" {
        // Terraform >= 1.5: import blocks.
        ws.ok(&["state", "rm", "rdsiam_postgres_user.names[\"Mixed.Case\"]"]);
        ws.write(
            "import.tf",
            "import {\n  to = rdsiam_postgres_user.names[\"Mixed.Case\"]\n  id = \"Mixed.Case\"\n}\n",
        );
        ws.ok(&["apply"]);
        ws.remove("import.tf");
        assert_eq!(
            ws.plan_exit_code(),
            0,
            "{}",
            step("plan after import block")
        );
    }
    ws.write(
        "ghost.tf",
        "resource \"rdsiam_postgres_user\" \"ghost\" {\n  name = \"nobody\"\n}\n",
    );
    let missing = ws.fails(&["import", "rdsiam_postgres_user.ghost", "nobody"]);
    ws.remove("ghost.tf");
    assert!(
        format!("{}{}", missing.stdout, missing.stderr).contains("No role named \"nobody\""),
        "{}",
        step("import of a missing role")
    );

    ws.ok(&["destroy"]);
    assert_users_gone(pg, &step("after destroy"));
    assert!(pg.role_exists(&who.user), "{}", step("admin survived"));
    assert_admin_outside_rds_iam(pg, admin, &who.user, &step("after destroy"));
    q(pg, "DROP ROLE IF EXISTS app_readers");
}

fn matrix(major: &str) {
    for admin in [Admin::Superuser, Admin::RdsLike] {
        for &version in TF_VERSIONS {
            lifecycle(major, admin, version);
        }
    }
    // No test leaves roles behind (the RDS-like roles are the environment's own).
    shared(major).assert_no_roles_left(|r| r == RDS_ADMIN);
}

#[test]
fn user_lifecycle_pg15() {
    assert!(PG_MAJORS.contains(&"15"));
    matrix("15");
}

#[test]
fn user_lifecycle_pg17() {
    assert!(PG_MAJORS.contains(&"17"));
    matrix("17");
}

fn plan_fails_with(config: &str, needles: &[&str]) {
    failed_plan(config).assert_mentions(needles);
}

/// Validation happens at plan time, before any connection (nothing listens on these hosts).
#[test]
fn bad_provider_settings_fail_plan_with_paths() {
    plan_fails_with(
        r#"
provider "rdsiam" {
  postgres {
    host     = "localhost"
    username = "nobody"
    iam_auth = true
    sslmode  = "disable"
  }
}
resource "rdsiam_postgres_user" "u" {
  name = "u"
}
"#,
        &["IAM authentication needs TLS", "sslmode  = \"disable\""],
    );
    plan_fails_with(
        r#"
provider "rdsiam" {
  postgres {
    host            = "localhost"
    username        = "nobody"
    sslmode         = "prefer-not"
    max_connections = 0
  }
}
resource "rdsiam_postgres_user" "u" {
  name = "u"
}
"#,
        &["Invalid sslmode", "Invalid max_connections"],
    );
}

#[test]
fn bad_user_input_fails_plan_with_paths() {
    plan_fails_with(
        &format!(
            "{UNREACHABLE_PROVIDER}{}",
            r#"resource "rdsiam_postgres_user" "bad" {
  name              = "pg_sneaky"
  connection_limit  = -7
  statement_timeout = "soon"
  roles             = ["rds_iam", ""]
}
"#
        ),
        &[
            "Invalid name",
            "reserved by PostgreSQL",
            "name              = \"pg_sneaky\"",
            "Invalid connection_limit",
            "Invalid statement_timeout",
            "managed by iam_auth",
            "Invalid role name",
        ],
    );
}

/// PostgreSQL 16+: the admin may grant only roles it holds WITH ADMIN OPTION. The error says
/// what to grant, and the user is not half-created.
#[test]
fn missing_admin_option_is_explained_and_nothing_is_half_created() {
    let cluster = PgCluster::start("17");
    let pg = &cluster;
    let who = pg.login(Admin::RdsLike);
    q(pg, "CREATE ROLE not_admins_role NOLOGIN");
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_user\" \"u\" {{\n  name  = \"half_probe\"\n  roles = [\"not_admins_role\"]\n}}\n",
            provider_block(pg, &who.user, "")
        ),
    );
    let out = ws.fails(&["apply"]);
    out.assert_mentions(&["not_admins_role", "WITH ADMIN OPTION", "SQLSTATE 42501"]);
    assert!(
        !pg.role_exists("half_probe"),
        "a half-created user was left behind"
    );
    assert!(ws.read("terraform.tfstate").contains("\"resources\": []"));
    assert_admin_outside_rds_iam(pg, Admin::RdsLike, &who.user, "after failed create");

    // Once the admin holds the role WITH ADMIN OPTION (but not as a member), it works.
    q(
        pg,
        &format!(
            "GRANT not_admins_role TO {RDS_ADMIN} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE"
        ),
    );
    ws.ok(&["apply"]);
    assert!(direct_member(pg, "half_probe", "not_admins_role"));
    assert!(!pg.admin_is_member_of(RDS_ADMIN, "not_admins_role"));
    ws.ok(&["destroy"]);
    assert!(!pg.role_exists("half_probe"));
}

#[test]
fn tls_modes() {
    // Own cluster: the shared ones are checked for leftover roles by the lifecycle tests.
    let cluster = PgCluster::start("15");
    let pg = &cluster;
    let who = pg.login(Admin::RdsLike);
    let user = r#"
resource "rdsiam_postgres_user" "tls" {
  name = "tls_probe"
}
"#;
    // verify-full against the wrong name: refused, with a clear reason.
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    let block = provider_block(pg, &who.user, "    hostaddr = \"127.0.0.1\"")
        .replace("host        = \"localhost\"", "host        = \"wronghost\"");
    ws.write("main.tf", &format!("{block}{user}"));
    let out = ws.fails(&["apply"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    // In plain words, naming both: the host connected to and the names in the certificate.
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("the server certificate is for \"localhost\"")
            && words.contains("not for \"wronghost\", the host the provider connected to"),
        "{text}"
    );
    assert!(!words.contains("NotValidForName"), "{text}");
    assert!(!pg.role_exists("tls_probe"));

    // require: encrypted without a CA.
    let block = provider_block(pg, &who.user, "")
        .replace("sslmode     = \"verify-full\"", "sslmode     = \"require\"")
        .replace(
            &format!("sslrootcert = {}", hcl(&pg.ca_path().to_string_lossy())),
            "",
        );
    ws.write("main.tf", &format!("{block}{user}"));
    ws.ok(&["apply"]);
    assert!(pg.role_exists("tls_probe"));
    let ssl = q(
        pg,
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'rds_like_admin' AND NOT s.ssl",
    );
    assert_eq!(ssl, "0", "a provider connection without TLS");
    ws.ok(&["destroy"]);
    assert!(!pg.role_exists("tls_probe"));
}

/// Local PostgreSQL cannot verify IAM tokens, so the admin's password is set to exactly the
/// token the provider will mint (fixed credentials and clock): a successful apply proves the
/// token is what goes over TLS as the password — and tokens over 1 KB work.
#[test]
fn iam_auth_sends_a_fresh_token_as_password() {
    iam_login(false);
}

/// An RDS master user with `MasterUserAuthenticationType = iam-db-auth`: RDS makes it a member
/// of `rds_iam` and it logs in with tokens; `iam_auth = true` manages users as it.
#[test]
fn iam_master_user_logs_in_with_tokens() {
    iam_login(true);
}

fn iam_login(master_in_rds_iam: bool) {
    let cluster = PgCluster::start("17");
    let pg = &cluster;
    let admin = "iam_login_admin";
    pg.make_rds_like_admin(admin, "placeholder");
    if master_in_rds_iam {
        q(pg, &format!("GRANT rds_iam TO {admin}"));
    }
    let session_token = format!("FwoGZXIvYXdzE+/={}", "Q".repeat(900));
    let iam = FixedIam {
        session_token: &session_token,
        ..FixedIam::EXAMPLE
    };
    let tok = iam.token(pg.port(), admin);
    assert!(tok.len() > 1024, "token only {} bytes", tok.len());
    q(
        pg,
        &format!("ALTER ROLE {admin} PASSWORD {}", quote_literal(&tok)),
    );

    let mut ws = Workspace::new("1.15.5", provider_bin());
    iam.set_env(&mut ws);
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"rdsiam_postgres_user\" \"u\" {{\n  name = \"iam_probe\"\n}}\n",
            provider_block_aws(pg, "eu-west-1", admin, "    iam_auth = true")
        ),
    );
    ws.ok(&["apply"]);
    assert!(pg.role_exists("iam_probe"));
    if !master_in_rds_iam {
        assert_admin_outside_rds_iam(pg, Admin::RdsLike, admin, "iam apply");
    }
    ws.ok(&["destroy"]);
    assert!(!pg.role_exists("iam_probe"));

    // A token for another instant is another password: refused, and said so.
    ws.set_env("RDSIAM_TEST_SIGNING_TIME", "1790000999");
    let out = ws.fails(&["apply"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        !text.contains(&tok),
        "the token leaked into Terraform's output"
    );
    q(pg, &format!("DROP ROLE {admin}"));
}

/// Destroy of a user that owns objects in two databases, as the RDS-like admin: blocked
/// without on_destroy settings (the error names the databases, nothing is half-done), then
/// clean with reassign_owned_to + drop_owned — and the admin never joins rds_iam.
fn destroy_with_owned_objects(major: &str) {
    let cluster = PgCluster::start(major);
    let pg = &cluster;
    let who = pg.login(Admin::RdsLike);
    pg.try_psql(
        "postgres",
        &who.user,
        &who.password,
        "CREATE DATABASE otherdb",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    let user = |extra: &str| {
        format!(
            "{}\nresource \"rdsiam_postgres_user\" \"o\" {{\n  name = \"owner_probe\"\n{extra}}}\n",
            provider_block(pg, &who.user, "")
        )
    };
    ws.write("main.tf", &user(""));
    ws.ok(&["apply"]);
    pg.psql(
        "postgres",
        "CREATE TABLE t1 (id int); ALTER TABLE t1 OWNER TO owner_probe",
    );
    pg.psql(
        "otherdb",
        "CREATE TABLE t2 (id int); ALTER TABLE t2 OWNER TO owner_probe; \
         GRANT CONNECT ON DATABASE otherdb TO owner_probe",
    );

    let out = ws.fails(&["destroy"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("still owns objects"), "{text}");
    assert!(
        text.contains("otherdb") && text.contains("postgres"),
        "{text}"
    );
    assert!(
        pg.role_exists("owner_probe"),
        "role dropped despite the error"
    );
    assert!(
        direct_member(pg, "owner_probe", "rds_iam"),
        "user lost rds_iam"
    );

    // REASSIGN OWNED alone leaves the CONNECT privilege, so the final DROP ROLE fails after
    // the admin borrowed the user's privileges: both the borrow and rds_iam are put back.
    ws.write(
        "main.tf",
        &user(&format!("  reassign_owned_to = {}\n", hcl(&who.user))),
    );
    ws.ok(&["apply"]);
    let out = ws.fails(&["destroy"]);
    assert!(
        out.combined()
            .contains("still owns objects or holds privileges"),
        "{out}"
    );
    assert!(
        pg.role_exists("owner_probe"),
        "role dropped despite the error"
    );
    assert!(
        direct_member(pg, "owner_probe", "rds_iam"),
        "a failed DROP ROLE left the user without rds_iam"
    );
    // (On 16+ the admin keeps the ADMIN-only row it got when it created the user.)
    assert!(
        !pg.admin_is_member_of(&who.user, "owner_probe"),
        "a failed DROP ROLE left the admin a member of the user"
    );
    assert_admin_outside_rds_iam(pg, Admin::RdsLike, &who.user, "after a failed DROP ROLE");

    ws.write(
        "main.tf",
        &user(&format!(
            "  reassign_owned_to = {}\n  drop_owned        = true\n",
            hcl(&who.user)
        )),
    );
    ws.ok(&["apply"]);
    ws.ok(&["destroy"]);
    assert!(!pg.role_exists("owner_probe"));
    let owner = |db: &str, t: &str| {
        pg.psql(
            db,
            &format!("SELECT tableowner FROM pg_tables WHERE tablename = '{t}'"),
        )
    };
    assert_eq!(owner("postgres", "t1"), who.user);
    assert_eq!(owner("otherdb", "t2"), who.user);
    assert_admin_outside_rds_iam(pg, Admin::RdsLike, &who.user, "after owned-objects destroy");
}

#[test]
fn destroy_with_owned_objects_pg15() {
    destroy_with_owned_objects("15");
}

#[test]
fn destroy_with_owned_objects_pg17() {
    destroy_with_owned_objects("17");
}
