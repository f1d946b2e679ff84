//! rdsiam_postgres_role and rdsiam_postgres_role_membership against real PostgreSQL (15, 16,
//! 17) driven by real Terraform (1.15.5 and 1.0.3), as a superuser and as an RDS-like admin:
//! the group-role pattern of issue 13 (a NOLOGIN group holding CONNECT + SELECT, one user in it
//! through `roles`, one through a membership with `inherit = false` on 16+), drift, import and
//! destroy — and after every step the admin is a member of neither rds_iam nor a managed role.

use crate::support;

use support::postgres::{Admin, PgCluster, RDS_ADMIN, provider_block, quote_literal, shared};
use support::{TF_VERSIONS, Workspace, hcl, provider_bin};

const DB: &str = "role_acc";
const GROUP: &str = "app_readonly";
const USER_A: &str = "role_user_a";
const USER_B: &str = "role_user_b";
const PW_A: &str = "pw-user-a";

fn login(pg: &PgCluster, admin: Admin) -> (String, String) {
    let l = pg.login(admin);
    (l.user, l.password)
}

fn config(pg: &PgCluster, user: &str, v16: bool) -> String {
    config_with(pg, user, v16, "")
}

/// `membership_extra`: more attributes of the membership resource.
fn config_with(pg: &PgCluster, user: &str, v16: bool, membership_extra: &str) -> String {
    let inherit = if v16 { "  inherit = false\n" } else { "" };
    format!(
        r#"{provider}
resource "rdsiam_postgres_role" "ro" {{
  name = "{GROUP}"
}}

resource "rdsiam_postgres_grant" "connect" {{
  role        = rdsiam_postgres_role.ro.name
  database    = "{DB}"
  object_type = "database"
  privileges  = ["CONNECT"]
}}

resource "rdsiam_postgres_grant" "select" {{
  role        = rdsiam_postgres_role.ro.name
  database    = "{DB}"
  object_type = "table"
  schema      = "public"
  objects     = ["items"]
  privileges  = ["SELECT"]
}}

resource "rdsiam_postgres_user" "a" {{
  name     = "{USER_A}"
  roles    = [rdsiam_postgres_role.ro.name]
}}

resource "rdsiam_postgres_user" "b" {{
  name = "{USER_B}"
}}

resource "rdsiam_postgres_role_membership" "b" {{
  role   = rdsiam_postgres_role.ro.name
  member = rdsiam_postgres_user.b.name
{inherit}{membership_extra}}}
"#,
        provider = provider_block(pg, user, ""),
    )
}

fn q(pg: &PgCluster, db: &str, sql: &str) -> String {
    pg.psql(db, sql)
}

/// pg_auth_members rows of (member, role), any grantor.
fn direct_rows(pg: &PgCluster, member: &str, role: &str) -> usize {
    q(
        pg,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = {} AND u.rolname = {}",
            quote_literal(role),
            quote_literal(member)
        ),
    )
    .parse()
    .unwrap_or(usize::MAX)
}

/// After every step: the admin belongs to neither rds_iam nor any managed role (a superuser
/// passes every pg_has_role check, so for it only pg_auth_members rows are looked at).
fn assert_admin_outside(pg: &PgCluster, admin: Admin, user: &str, step: &str) {
    for r in ["rds_iam", GROUP, USER_A, USER_B] {
        match admin {
            Admin::Superuser => assert_eq!(
                direct_rows(pg, user, r),
                0,
                "{step}: superuser {user} has a pg_auth_members row for {r}"
            ),
            Admin::RdsLike => assert!(
                !pg.admin_is_member_of(user, r),
                "{step}: admin {user} is a member of {r}"
            ),
        }
    }
}

fn group_flags(pg: &PgCluster) -> String {
    q(
        pg,
        "postgres",
        &format!(
            "SELECT rolcanlogin::text || rolsuper::text || rolcreatedb::text || rolcreaterole::text \
             || rolreplication::text || rolbypassrls::text FROM pg_roles WHERE rolname = '{GROUP}'"
        ),
    )
}

/// Acting as `user` (password login): a read and a write of role_acc.items.
fn as_user(pg: &PgCluster, user: &str, pw: &str, sql: &str) -> Result<String, String> {
    pg.try_psql(DB, user, pw, sql)
}

fn assert_group_works(pg: &PgCluster, v16: bool, step: &str) {
    assert_eq!(
        group_flags(pg),
        "falsefalsefalsefalsefalsefalse",
        "{step}: group flags"
    );
    assert_eq!(direct_rows(pg, USER_A, GROUP), 1, "{step}: A not in group");
    assert!(
        direct_rows(pg, USER_B, GROUP) >= 1,
        "{step}: B not in group"
    );
    assert_eq!(
        as_user(pg, USER_A, PW_A, "SELECT count(*) FROM items").as_deref(),
        Ok("2"),
        "{step}: A reads"
    );
    let write = as_user(pg, USER_A, PW_A, "INSERT INTO items VALUES (3)");
    assert!(
        write
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        "{step}: A's write was not refused: {write:?}"
    );
    if v16 {
        let inherit = q(
            pg,
            "postgres",
            &format!(
                "SELECT string_agg(m.inherit_option::text, ',') FROM pg_auth_members m \
                 WHERE m.roleid = '{GROUP}'::regrole AND m.member = '{USER_B}'::regrole"
            ),
        );
        assert_eq!(inherit, "false", "{step}: B's inherit_option");
        // Without inheritance B has none of the group's privileges (not even CONNECT) until it
        // runs SET ROLE; acted out from a superuser session.
        let (su, su_pw) = pg.superuser();
        let as_b = |sql: &str| pg.try_psql(DB, su, su_pw, &format!("SET ROLE {USER_B}; {sql}"));
        assert!(
            as_b("SELECT count(*) FROM items").is_err(),
            "{step}: B read without SET ROLE"
        );
        assert_eq!(
            as_b(&format!("SET ROLE {GROUP}; SELECT count(*) FROM items")).map(|s| s
                .lines()
                .last()
                .unwrap_or_default()
                .to_string()),
            Ok("2".to_string()),
            "{step}: B reads after SET ROLE"
        );
    }
}

/// The oids of B's pg_auth_members rows in the group (16+ only: older rows have no oid).
fn membership_oids(pg: &PgCluster) -> String {
    if pg.major().parse::<u32>().unwrap_or(0) < 16 {
        return String::new();
    }
    q(
        pg,
        "postgres",
        &format!(
            "SELECT string_agg(oid::text, ',') FROM pg_auth_members \
             WHERE roleid = '{GROUP}'::regrole AND member = '{USER_B}'::regrole"
        ),
    )
}

/// The resources `plan_file` changes (no-ops left out), planned first.
fn changes(ws: &Workspace, plan_file: &str) -> Vec<(String, Vec<String>)> {
    let mut planned = ws.plan_actions(plan_file);
    planned.retain(|(_, a)| a != &["no-op"]);
    planned
}

fn setup_database(pg: &PgCluster, user: &str, password: &str) {
    let (su, su_pw) = pg.superuser();
    let _ = pg.try_psql(
        "postgres",
        su,
        su_pw,
        &format!("DROP DATABASE IF EXISTS {DB}"),
    );
    pg.try_psql("postgres", user, password, &format!("CREATE DATABASE {DB}"))
        .unwrap_or_else(|e| panic!("{e}"));
    pg.try_psql(
        DB,
        user,
        password,
        &format!(
            "REVOKE CONNECT ON DATABASE {DB} FROM PUBLIC; \
             CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn lifecycle(pg: &PgCluster, admin: Admin, version: &str) {
    let major: u32 = pg.major().parse().unwrap_or(0);
    let v16 = major >= 16;
    let (user, password) = login(pg, admin);
    let step = |s: &str| format!("pg{major}/{admin:?}/tf{version}: {s}");
    setup_database(pg, &user, &password);

    let mut ws = Workspace::new(version, provider_bin());
    ws.set_env("PGPASSWORD", &password);
    ws.write("main.tf", &config(pg, &user, v16));
    ws.ok(&["apply", "-auto-approve"]);
    // A password so the test can log in as A (not managed by the provider).
    q(
        pg,
        "postgres",
        &format!("ALTER ROLE {USER_A} PASSWORD {}", quote_literal(PW_A)),
    );
    assert_group_works(pg, v16, &step("after create"));
    assert_admin_outside(pg, admin, &user, &step("after create"));
    assert_eq!(ws.plan_exit_code(), 0, "{}", step("re-plan after create"));

    let show = ws.show_json();
    let membership = show["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["address"] == "rdsiam_postgres_role_membership.b")
        .map(|r| r["values"].clone())
        .unwrap_or_default();
    assert_eq!(
        membership["id"],
        format!("{GROUP}|{USER_B}"),
        "{}",
        step("id")
    );
    assert!(
        membership["grantor"]
            .as_str()
            .is_some_and(|g| !g.is_empty()),
        "{}: grantor {membership}",
        step("grantor")
    );

    // Drift 1: LOGIN CREATEROLE on the group, made by a superuser out of band.
    q(
        pg,
        "postgres",
        &format!("ALTER ROLE {GROUP} LOGIN CREATEROLE"),
    );
    assert_eq!(
        changes(&ws, "drift.tfplan"),
        vec![(
            "rdsiam_postgres_role.ro".to_string(),
            vec!["update".to_string()]
        )],
        "{}",
        step("LOGIN CREATEROLE drift")
    );
    ws.ok(&["apply", "-auto-approve"]);
    assert_group_works(pg, v16, &step("after LOGIN repair"));
    assert_admin_outside(pg, admin, &user, &step("after LOGIN repair"));
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("re-plan after LOGIN repair")
    );

    // Drift 1b: the user A locked out (NOLOGIN) and given CREATEROLE out of band.
    q(
        pg,
        "postgres",
        &format!("ALTER ROLE {USER_A} NOLOGIN CREATEROLE"),
    );
    assert_eq!(
        changes(&ws, "user-drift.tfplan"),
        vec![(
            "rdsiam_postgres_user.a".to_string(),
            vec!["update".to_string()]
        )],
        "{}",
        step("user NOLOGIN CREATEROLE drift")
    );
    ws.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        q(
            pg,
            "postgres",
            &format!(
                "SELECT rolcanlogin::text || rolcreaterole::text FROM pg_roles WHERE rolname = '{USER_A}'"
            ),
        ),
        "truefalse",
        "{}",
        step("user attributes repaired")
    );
    assert_group_works(pg, v16, &step("after user repair"));
    assert_admin_outside(pg, admin, &user, &step("after user repair"));
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("re-plan after user repair")
    );

    // Drift 2: B's membership revoked out of band, as its grantor (on 16+ a REVOKE by anyone
    // else removes nothing).
    pg.try_psql(
        "postgres",
        &user,
        &password,
        &format!("REVOKE {GROUP} FROM {USER_B}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(direct_rows(pg, USER_B, GROUP), 0, "{}", step("revoked"));
    assert_eq!(
        changes(&ws, "revoke.tfplan"),
        vec![(
            "rdsiam_postgres_role_membership.b".to_string(),
            vec!["create".to_string()]
        )],
        "{}",
        step("REVOKE drift")
    );
    ws.ok(&["apply", "-auto-approve"]);
    assert_group_works(pg, v16, &step("after REVOKE repair"));
    assert_admin_outside(pg, admin, &user, &step("after REVOKE repair"));
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("re-plan after REVOKE repair")
    );

    // A change of options is made in place: an update, the same pg_auth_members row.
    ws.write(
        "main.tf",
        &config_with(pg, &user, v16, "  admin_option = true\n"),
    );
    assert_eq!(
        changes(&ws, "admin.tfplan"),
        vec![(
            "rdsiam_postgres_role_membership.b".to_string(),
            vec!["update".to_string()]
        )],
        "{}",
        step("admin_option change")
    );
    let oid_before = membership_oids(pg);
    ws.ok(&["apply"]);
    let admin_opt = |pg: &PgCluster| {
        q(
            pg,
            "postgres",
            &format!(
                "SELECT string_agg(admin_option::text, ',') FROM pg_auth_members \
                 WHERE roleid = '{GROUP}'::regrole AND member = '{USER_B}'::regrole"
            ),
        )
    };
    assert_eq!(admin_opt(pg), "true", "{}", step("admin_option granted"));
    if v16 {
        // 16+ rows have their own oid: the same row means it was not revoked and re-granted.
        assert_eq!(membership_oids(pg), oid_before, "{}", step("same row"));
    }
    assert_admin_outside(pg, admin, &user, &step("after admin_option"));
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("re-plan after admin_option")
    );
    ws.write("main.tf", &config(pg, &user, v16));
    ws.ok(&["apply"]);
    assert_eq!(admin_opt(pg), "false", "{}", step("admin_option revoked"));
    assert_group_works(pg, v16, &step("after admin_option revoked"));
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{}",
        step("re-plan after admin_option revoked")
    );

    // Import of both types.
    ws.ok(&["state", "rm", "rdsiam_postgres_role.ro"]);
    ws.ok(&["import", "rdsiam_postgres_role.ro", GROUP]);
    ws.ok(&["state", "rm", "rdsiam_postgres_role_membership.b"]);
    ws.ok(&[
        "import",
        "rdsiam_postgres_role_membership.b",
        &format!("{GROUP}|{USER_B}"),
    ]);
    assert_eq!(ws.plan_exit_code(), 0, "{}", step("plan after import"));
    assert_admin_outside(pg, admin, &user, &step("after import"));
    let bad = ws.fails(&["import", "rdsiam_postgres_role_membership.b", "no_pipe"]);
    assert!(bad.combined().contains("Invalid import ID"), "{bad}");

    ws.ok(&["destroy", "-auto-approve"]);
    for r in [GROUP, USER_A, USER_B] {
        assert!(!pg.role_exists(r), "{}: {r} left behind", step("destroy"));
    }
    assert!(pg.role_exists(&user), "{}", step("admin survived"));
    assert_admin_outside(pg, admin, &user, &step("after destroy"));
    let (su, su_pw) = pg.superuser();
    pg.try_psql("postgres", su, su_pw, &format!("DROP DATABASE {DB}"))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn matrix(pg: &PgCluster) {
    for admin in [Admin::Superuser, Admin::RdsLike] {
        for &version in TF_VERSIONS {
            lifecycle(pg, admin, version);
        }
    }
    let left: Vec<String> = pg.roles().into_iter().filter(|r| r != RDS_ADMIN).collect();
    assert!(
        left.is_empty(),
        "pg{}: roles left behind: {left:?}",
        pg.major()
    );
}

#[test]
fn role_lifecycle_pg15() {
    matrix(shared("15"));
}

#[test]
fn role_lifecycle_pg16() {
    matrix(shared("16"));
}

#[test]
fn role_lifecycle_pg17() {
    matrix(shared("17"));
}

#[test]
fn role_lifecycle_pg13() {
    matrix(shared("13"));
}

#[test]
fn role_lifecycle_pg18() {
    matrix(shared("18"));
}

/// inherit = false on PostgreSQL 15: an error at apply naming the attribute and the version,
/// and nothing granted.
#[test]
fn inherit_false_before_16_is_refused_with_the_version() {
    let cluster = PgCluster::start("15");
    let pg = &cluster;
    let (user, password) = login(pg, Admin::RdsLike);
    q(
        pg,
        "postgres",
        "CREATE ROLE v15_group NOLOGIN; CREATE ROLE v15_member NOLOGIN",
    );
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_env("PGPASSWORD", &password);
    let head = config(pg, &user, false);
    let head = &head[..head
        .find("resource \"rdsiam_postgres_role\"")
        .unwrap_or(head.len())];
    ws.write(
        "main.tf",
        &format!(
            "{head}\nresource \"rdsiam_postgres_role_membership\" \"m\" {{\n  role    = \"v15_group\"\n  member  = \"v15_member\"\n  inherit = false\n}}\n"
        ),
    );
    let out = ws.fails(&["apply", "-auto-approve"]);
    let text = out.combined();
    for needle in [
        "Invalid inherit",
        "PostgreSQL 16 or later",
        "the server is 15.",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    assert_eq!(direct_rows(pg, "v15_member", "v15_group"), 0);

    // The provider's own login as member: refused, nothing granted.
    ws.write(
        "main.tf",
        &format!(
            "{head}\nresource \"rdsiam_postgres_role_membership\" \"m\" {{\n  role   = \"v15_group\"\n  member = {}\n}}\n",
            hcl(&user)
        ),
    );
    let out = ws.fails(&["apply", "-auto-approve"]);
    assert!(
        out.combined()
            .contains("Refusing a membership of the provider's login"),
        "{out}"
    );
    assert_eq!(direct_rows(pg, &user, "v15_group"), 0);
}
