//! Resource identity (Terraform >= 1.12) against real PostgreSQL 15 and real Terraform 1.12.2
//! and 1.15.5: objects made by hand with SQL are imported with `import { identity = … }` for
//! every resource type, the re-plan is empty, `terraform show -json` holds each identity, and
//! an ID import (all versions) records the same identity. Terraform 1.0.3, which knows no
//! identity, is covered by the other suites (e.g. acceptance_user on 1.0.3).

use crate::support;

use serde_json::{Value as Json, json};
use support::postgres::{Admin, PgCluster, provider_block, quote_ident, shared};
use support::{Workspace, hcl, provider_bin};

const IDENTITY_VERSIONS: &[&str] = &["1.12.2", "1.15.5"];
const USER: &str = "mario.rossi@example.com";
const GROUP: &str = "ident_group";
const OTHER: &str = "ident|other";
const OWNER: &str = "ident_owner";
const DB: &str = "ident_db";

fn setup(pg: &PgCluster) {
    cleanup(pg);
    let (u, g, o, w, d) = (
        quote_ident(USER),
        quote_ident(GROUP),
        quote_ident(OTHER),
        quote_ident(OWNER),
        quote_ident(DB),
    );
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {u} WITH LOGIN; GRANT rds_iam TO {u}; CREATE ROLE {g} NOLOGIN; \
             CREATE ROLE {o} NOLOGIN; GRANT {g} TO {o}; CREATE ROLE {w} NOLOGIN; \
             CREATE DATABASE {d} OWNER {w};"
        ),
    );
    pg.psql(
        DB,
        &format!(
            "CREATE TABLE public.t1 (id int); CREATE TABLE public.t2 (id int); \
             GRANT SELECT, INSERT ON public.t1 TO {u}; GRANT CONNECT ON DATABASE {d} TO {u}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {w} IN SCHEMA public GRANT SELECT ON TABLES TO {u};"
        ),
    );
}

fn cleanup(pg: &PgCluster) {
    pg.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(DB)),
    );
    for r in [USER, OTHER, GROUP, OWNER] {
        pg.psql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {}", quote_ident(r)),
        );
    }
}

/// The resources as the hand-made SQL left them; references, not literal names, so destroy
/// revokes before it drops the user.
fn resources() -> String {
    format!(
        r#"
resource "rdsiam_postgres_user" "mario" {{
  name = {user}
}}

resource "rdsiam_postgres_role" "group" {{
  name = {group}
}}

resource "rdsiam_postgres_role_membership" "other" {{
  role   = rdsiam_postgres_role.group.name
  member = {other}
}}

resource "rdsiam_postgres_grant" "t1" {{
  role        = rdsiam_postgres_user.mario.name
  database    = {db}
  object_type = "table"
  schema      = "public"
  objects     = ["t1"]
  privileges  = ["INSERT", "SELECT"]
}}

resource "rdsiam_postgres_grant" "connect" {{
  role        = rdsiam_postgres_user.mario.name
  database    = {db}
  object_type = "database"
  privileges  = ["CONNECT"]
}}

resource "rdsiam_postgres_default_privileges" "tables" {{
  role        = rdsiam_postgres_user.mario.name
  database    = {db}
  schema      = "public"
  owner       = {owner}
  object_type = "tables"
  privileges  = ["SELECT"]
}}
"#,
        user = hcl(USER),
        group = hcl(GROUP),
        other = hcl(OTHER),
        db = hcl(DB),
        owner = hcl(OWNER),
    )
}

/// Each resource's address with the identity that names it (as `show -json` prints it).
fn identities() -> Vec<(&'static str, Json)> {
    vec![
        ("rdsiam_postgres_user.mario", json!({ "name": USER })),
        ("rdsiam_postgres_role.group", json!({ "name": GROUP })),
        (
            "rdsiam_postgres_role_membership.other",
            json!({ "role": GROUP, "member": OTHER }),
        ),
        (
            "rdsiam_postgres_grant.t1",
            json!({ "role": USER, "database": DB, "object_type": "table",
                    "schema": "public", "objects": ["t1"] }),
        ),
        // Database-wide: no schema, no objects (null in the identity, left out of the block).
        (
            "rdsiam_postgres_grant.connect",
            json!({ "role": USER, "database": DB, "object_type": "database",
                    "schema": null, "objects": null }),
        ),
        (
            "rdsiam_postgres_default_privileges.tables",
            json!({ "role": USER, "database": DB, "schema": "public", "owner": OWNER,
                    "object_type": "tables" }),
        ),
    ]
}

/// An HCL object from a JSON one (strings and lists of strings).
fn hcl_object(v: &Json) -> String {
    let field = |v: &Json| match v {
        Json::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| hcl(i.as_str().unwrap())).collect();
            format!("[{}]", items.join(", "))
        }
        v => hcl(v.as_str().unwrap()),
    };
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("    {k} = {}", field(v)))
        .collect();
    format!("{{\n{}\n  }}", fields.join("\n"))
}

fn import_blocks() -> String {
    identities()
        .iter()
        .map(|(to, id)| {
            format!(
                "import {{\n  to       = {to}\n  identity = {}\n}}\n",
                hcl_object(id)
            )
        })
        .collect()
}

/// Every resource's identity in `show -json`, by address.
fn shown_identities(ws: &Workspace) -> Vec<(String, Json)> {
    let show = ws.show_json();
    show["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["identity"].clone(),
            )
        })
        .collect()
}

fn assert_identities(ws: &Workspace, step: &str) {
    let mut shown = shown_identities(ws);
    shown.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, Json)> = identities()
        .into_iter()
        .map(|(a, i)| (a.to_string(), i))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(shown, want, "{step}: identities in show -json");
}

fn import_by_identity(version: &str) {
    let pg = shared("15");
    let who = pg.login(Admin::Superuser);
    let step = |s: &str| format!("tf{version}: {s}");
    setup(pg);
    let mut ws = Workspace::new(version, provider_bin());
    ws.set_env("PGPASSWORD", &who.password);
    ws.write(
        "main.tf",
        &format!("{}{}", provider_block(pg, &who.user, ""), resources()),
    );
    ws.write("import.tf", &import_blocks());
    let plan = ws.ok(&["plan"]);
    plan.assert_contains("6 to import, 0 to add, 0 to change, 0 to destroy");
    ws.ok(&["apply", "-auto-approve"]);
    ws.remove("import.tf");
    ws.assert_no_changes();
    assert_identities(&ws, &step("after import by identity"));

    // A refresh keeps them; an ID import records the same identity.
    ws.ok(&["apply", "-refresh-only", "-auto-approve"]);
    assert_identities(&ws, &step("after refresh"));
    ws.ok(&["state", "rm", "rdsiam_postgres_grant.t1"]);
    let id = format!("{USER}|{DB}|table|public|t1");
    ws.ok(&["import", "rdsiam_postgres_grant.t1", &id]);
    ws.assert_no_changes();
    assert_identities(&ws, &step("after ID import"));

    // A wrong identity is refused with the resource's own words.
    ws.ok(&["state", "rm", "rdsiam_postgres_user.mario"]);
    ws.write(
        "import.tf",
        "import {\n  to       = rdsiam_postgres_user.mario\n  identity = { name = \"nobody_here\" }\n}\n",
    );
    let failed = ws.fails(&["plan"]);
    failed.assert_mentions(&["nobody_here"]);
    ws.write(
        "import.tf",
        &format!(
            "import {{\n  to       = rdsiam_postgres_user.mario\n  identity = {{ name = {} }}\n}}\n",
            hcl(USER)
        ),
    );
    ws.ok(&["apply", "-auto-approve"]);
    ws.remove("import.tf");
    ws.assert_no_changes();

    ws.ok(&["destroy", "-auto-approve"]);
    cleanup(pg);
}

/// One test for both versions: they share the cluster and the names.
#[test]
fn import_by_identity_every_resource() {
    for version in IDENTITY_VERSIONS {
        import_by_identity(version);
    }
}

/// State written by Terraform 1.0.3 (no identities) gains them on the first refresh by a
/// newer Terraform, and the plan stays empty.
#[test]
fn state_from_terraform_1_0_3_gains_identities() {
    let pg = shared("15");
    let who = pg.login(Admin::Superuser);
    let name = "ident_upgraded";
    pg.psql(
        "postgres",
        &format!("DROP ROLE IF EXISTS {}", quote_ident(name)),
    );
    let config = format!(
        "{}resource \"rdsiam_postgres_user\" \"u\" {{\n  name = {}\n}}\n",
        provider_block(pg, &who.user, ""),
        hcl(name)
    );
    let mut old = Workspace::new("1.0.3", provider_bin());
    old.set_env("PGPASSWORD", &who.password);
    old.write("main.tf", &config);
    old.ok(&["apply"]);
    old.assert_no_changes();

    let mut new = Workspace::new("1.15.5", provider_bin());
    new.set_env("PGPASSWORD", &who.password);
    new.write("main.tf", &config);
    new.write("terraform.tfstate", &old.read("terraform.tfstate"));
    assert_eq!(
        shown_identities(&new)[0].1,
        Json::Null,
        "1.0.3 stored no identity"
    );
    new.ok(&["apply", "-refresh-only"]);
    assert_eq!(
        shown_identities(&new),
        vec![(
            "rdsiam_postgres_user.u".to_string(),
            json!({ "name": name })
        )]
    );
    new.assert_no_changes();
    new.ok(&["destroy"]);
    assert_eq!(
        pg.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}'")
        ),
        "0"
    );
}
