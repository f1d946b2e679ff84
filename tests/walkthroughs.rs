//! The walkthrough examples applied for real: `examples/quickstart` (what `make demo` applies)
//! and `examples/aurora-iam` (minus its `aws-side/`, which needs hashicorp/aws) against a
//! throwaway PostgreSQL with an RDS-like admin and moto holding an Aurora cluster; and
//! `examples/terragrunt`, whose units are checked without Terragrunt (none can be installed
//! here): every `.hcl` parsed with python-hcl2, the dependency wiring checked against the
//! modules' real variables and outputs, and each db-iam unit's module planned with its mock
//! inputs and generated provider block. `fmt -check` / `validate` of every example are in
//! `tests/examples.rs`.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use support::moto::{FAKE_CREDS, Moto};
use support::postgres::{PgCluster, quote_literal};
use support::{Workspace, provider_bin, repo_root, tools_dir};

const TF: &str = "1.15.5";
const ADMIN: &str = "rds_like_admin";
const ADMIN_PASSWORD: &str = "walkthrough-admin-pw";
const CLUSTER: &str = "demo-aurora";

/// Copy the `.tf` files of `from` (and, with `recursive`, its subdirectories) into `to`.
fn copy_tf(from: &Path, to: &Path, recursive: bool) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read example dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            if recursive {
                copy_tf(&path, &to.join(entry.file_name()), true);
            }
        } else if path.extension().is_some_and(|e| e == "tf") {
            fs::copy(&path, to.join(entry.file_name())).expect("copy .tf file");
        }
    }
}

/// The application's database as its migrations would leave it: owned by the RDS-like admin.
fn create_shop(pg: &PgCluster) {
    pg.make_rds_like_admin(ADMIN, ADMIN_PASSWORD);
    pg.psql("postgres", &format!("CREATE DATABASE shop OWNER {ADMIN}"));
    pg.psql(
        "shop",
        &format!(
            "SET ROLE {ADMIN};\n\
             CREATE SCHEMA sales;\n\
             CREATE TABLE sales.customers (id int PRIMARY KEY, name text);\n\
             CREATE TABLE sales.orders (id serial PRIMARY KEY, customer_id int, total numeric);\n\
             CREATE TABLE sales.payments (order_id int, amount numeric);\n\
             INSERT INTO sales.customers VALUES (1, 'Ada');"
        ),
    );
}

/// Variables and environment shared by both examples: the local PostgreSQL and moto.
fn point_at(ws: &mut Workspace, pg: &PgCluster, moto: &Moto) {
    for (k, v) in FAKE_CREDS {
        ws.set_env(k, v);
    }
    ws.set_env("TF_VAR_region", "us-east-1")
        .set_env("TF_VAR_aws_endpoint", &moto.endpoint())
        .set_env("TF_VAR_cluster_identifier", CLUSTER)
        .set_env("TF_VAR_db_host", "localhost")
        .set_env("TF_VAR_db_port", &pg.port().to_string())
        .set_env("TF_VAR_db_ca_cert", &pg.ca_path().to_string_lossy())
        .set_env("TF_VAR_db_admin_username", ADMIN)
        .set_env("TF_VAR_db_admin_password", ADMIN_PASSWORD);
}

/// `role: table -> privileges it holds` for every table of `sales`, from has_table_privilege.
fn table_privileges(pg: &PgCluster, role: &str) -> BTreeMap<String, String> {
    let r = quote_literal(role);
    pg.psql(
        "shop",
        &format!(
            "SELECT c.relname, concat_ws(',', \
               CASE WHEN has_table_privilege({r}, c.oid, 'SELECT') THEN 'SELECT' END, \
               CASE WHEN has_table_privilege({r}, c.oid, 'INSERT') THEN 'INSERT' END, \
               CASE WHEN has_table_privilege({r}, c.oid, 'UPDATE') THEN 'UPDATE' END, \
               CASE WHEN has_table_privilege({r}, c.oid, 'DELETE') THEN 'DELETE' END) \
             FROM pg_class c WHERE c.relnamespace = 'sales'::regnamespace AND c.relkind = 'r' \
             ORDER BY 1"
        ),
    )
    .lines()
    .filter_map(|l| l.split_once('|'))
    .map(|(t, p)| (t.to_string(), p.to_string()))
    .collect()
}

fn expected(rows: &[(&str, &str)]) -> BTreeMap<String, String> {
    rows.iter()
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect()
}

/// `rolcanlogin|rolconnlimit|member of rds_iam` for `role`.
fn role_row(pg: &PgCluster, role: &str) -> String {
    pg.psql(
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolconnlimit, pg_has_role(oid, 'rds_iam', 'MEMBER') \
             FROM pg_roles WHERE rolname = {}",
            quote_literal(role)
        ),
    )
}

/// Database CONNECT, schema USAGE and sequence USAGE of `role`, as `t|t|t`.
fn access_row(pg: &PgCluster, role: &str) -> String {
    let r = quote_literal(role);
    pg.psql(
        "shop",
        &format!(
            "SELECT has_database_privilege({r}, 'shop', 'CONNECT'), \
                    has_schema_privilege({r}, 'sales', 'USAGE'), \
                    has_sequence_privilege({r}, 'sales.orders_id_seq', 'USAGE')"
        ),
    )
}

fn resource_addresses(module: &Json, out: &mut BTreeSet<String>) {
    for r in module["resources"].as_array().into_iter().flatten() {
        if let Some(a) = r["address"].as_str() {
            out.insert(a.to_string());
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        resource_addresses(child, out);
    }
}

fn state_resource<'a>(state: &'a Json, address: &str) -> &'a Json {
    fn find<'a>(module: &'a Json, address: &str) -> Option<&'a Json> {
        module["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["address"] == address)
            .or_else(|| {
                module["child_modules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| find(c, address))
            })
    }
    find(&state["values"]["root_module"], address)
        .unwrap_or_else(|| panic!("{address} not in terraform show -json"))
}

/// moto with the walkthroughs' Aurora cluster (IAM auth on); its resource id and endpoint.
fn aurora_in_moto() -> (Moto, String, String) {
    let moto = Moto::start();
    let cluster = moto.create_aurora_cluster(CLUSTER, true);
    let field = |k: &str| {
        cluster[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k}"))
            .to_string()
    };
    let (resource_id, endpoint) = (field("DbClusterResourceId"), field("Endpoint"));
    (moto, resource_id, endpoint)
}

fn expected_arn(resource_id: &str, user: &str) -> String {
    format!("arn:aws:rds-db:us-east-1:123456789012:dbuser:{resource_id}/{user}")
}

#[test]
fn quickstart_applies_against_rds_like_postgres_and_moto() {
    let pg = PgCluster::start("15");
    create_shop(&pg);
    let (moto, resource_id, endpoint) = aurora_in_moto();
    let (resource_id, endpoint) = (resource_id.as_str(), endpoint.as_str());

    let mut ws = Workspace::new(TF, provider_bin());
    copy_tf(&repo_root().join("examples/quickstart"), ws.path(), false);
    point_at(&mut ws, &pg, &moto);

    ws.ok(&["apply"]);
    assert_eq!(pg.roles(), vec!["orders_app", "orders_rw"]);
    assert_eq!(role_row(&pg, "orders_app"), "t|20|t");
    // The group holds the grants (and cannot log in); the user has them through membership.
    assert_eq!(role_row(&pg, "orders_rw"), "f|-1|f");
    for role in ["orders_rw", "orders_app"] {
        assert_eq!(access_row(&pg, role), "t|t|t", "{role}");
        assert_eq!(
            table_privileges(&pg, role),
            expected(&[
                ("customers", "SELECT"),
                ("orders", "SELECT,INSERT,UPDATE"),
                ("payments", "SELECT"),
            ]),
            "{role}"
        );
    }

    // The grants work for a real login (a password stands in for the IAM token here).
    pg.psql(
        "postgres",
        "ALTER ROLE orders_app PASSWORD 'token-stand-in'",
    );
    let insert = pg.try_psql(
        "shop",
        "orders_app",
        "token-stand-in",
        "INSERT INTO sales.orders (customer_id, total) VALUES (1, 9.5) RETURNING customer_id",
    );
    assert_eq!(insert.as_deref(), Ok("1"));
    let delete = pg.try_psql(
        "shop",
        "orders_app",
        "token-stand-in",
        "DELETE FROM sales.orders",
    );
    assert!(
        delete
            .as_ref()
            .is_err_and(|e| e.contains("permission denied for table orders")),
        "{delete:?}"
    );

    let out = ws.output_json();
    let arn = expected_arn(resource_id, "orders_app");
    assert_eq!(out["db_user_arn"]["value"], arn.as_str());
    assert_eq!(out["cluster_resource_id"]["value"], resource_id);
    assert_eq!(out["cluster_endpoint"]["value"], endpoint);
    let policy: Json = serde_json::from_str(out["policy_json"]["value"].as_str().expect("policy"))
        .expect("policy_json is JSON");
    assert_eq!(policy["Statement"][0]["Action"], "rds-db:connect");
    assert_eq!(policy["Statement"][0]["Resource"], serde_json::json!([arn]));
    let command = out["connect_command"]["value"].as_str().expect("command");
    assert!(
        command.contains(&format!(
            "--hostname {endpoint} --port 5432 --username orders_app"
        )) && command.contains(&format!(
            "host={endpoint} port=5432 dbname=shop user=orders_app"
        )),
        "{command}"
    );

    let state = ws.show_json();
    let mut addresses = BTreeSet::new();
    resource_addresses(&state["values"]["root_module"], &mut addresses);
    let want: BTreeSet<String> = [
        "data.rdsiam_cluster.main",
        "data.rdsiam_policy_document.app",
        "rdsiam_postgres_grant.connect",
        "rdsiam_postgres_grant.read_all",
        "rdsiam_postgres_grant.schema",
        "rdsiam_postgres_grant.sequences",
        "rdsiam_postgres_grant.write",
        "rdsiam_postgres_role.app",
        "rdsiam_postgres_user.app",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(addresses, want);
    let write = &state_resource(&state, "rdsiam_postgres_grant.write")["values"];
    assert_eq!(write["objects"], serde_json::json!(["orders"]));
    assert_eq!(write["privileges"], serde_json::json!(["INSERT", "UPDATE"]));
    let user = &state_resource(&state, "rdsiam_postgres_user.app")["values"];
    assert_eq!(user["iam_role"], "rds_iam");
    assert_eq!(user["connection_limit"], 20);

    ws.assert_no_changes();
    ws.ok(&["destroy"]);
    assert_eq!(
        pg.roles(),
        Vec::<String>::new(),
        "destroy left roles behind"
    );
}

/// Stand-in for `psql` in the smoke test: records what the provisioner got (never the token).
const SMOKE_CHECK: &str = r#"#!/bin/sh
case "$PGPASSWORD" in
  "$PGHOST:$PGPORT/?Action=connect&DBUser=$PGUSER&"*X-Amz-Credential=testing*X-Amz-Signature=*) token=token-ok ;;
  *) token=token-bad ;;
esac
echo "$PGUSER $PGHOST $PGDATABASE $PGSSLMODE $token" >> "$SMOKE_OUT"
"#;

#[test]
fn aurora_iam_applies_modules_per_workload_with_ephemeral_tokens() {
    let pg = PgCluster::start("17");
    create_shop(&pg);
    let (moto, resource_id, endpoint) = aurora_in_moto();
    let (resource_id, endpoint) = (resource_id.as_str(), endpoint.as_str());

    let mut ws = Workspace::new(TF, provider_bin());
    let example = repo_root().join("examples/aurora-iam");
    copy_tf(&example, ws.path(), false);
    copy_tf(&example.join("modules"), &ws.path().join("modules"), true);
    point_at(&mut ws, &pg, &moto);
    let check = ws.path().join("smoke-check.sh");
    fs::write(&check, SMOKE_CHECK).expect("write smoke check");
    Command::new("chmod")
        .arg("+x")
        .arg(&check)
        .status()
        .expect("chmod");
    let smoke_out = ws.path().join("smoke.txt");
    ws.set_env("SMOKE_OUT", &smoke_out.to_string_lossy())
        .set_env("TF_VAR_smoke_test", "true")
        .set_env("TF_VAR_smoke_test_command", &check.to_string_lossy());

    ws.ok(&["init"]);
    ws.ok(&["apply"]);

    // The ephemeral token reached the provisioner, for the right user and endpoint...
    let smoke: BTreeSet<String> = fs::read_to_string(&smoke_out)
        .expect("the smoke test ran")
        .lines()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["orders_api", "reporting"]
        .iter()
        .map(|u| format!("{u} {endpoint} shop verify-full token-ok"))
        .collect();
    assert_eq!(smoke, want);
    // ...and never reached the state.
    let state_file = ws.read("terraform.tfstate");
    assert!(
        !state_file.contains("X-Amz-Signature"),
        "a token is in the state"
    );

    assert_eq!(
        pg.roles(),
        vec![
            "orders_api",
            "orders_api_access",
            "reporting",
            "reporting_access"
        ]
    );
    assert_eq!(role_row(&pg, "orders_api_access"), "f|-1|f");
    assert_eq!(role_row(&pg, "orders_api"), "t|50|t");
    assert_eq!(role_row(&pg, "reporting"), "t|-1|t");
    assert_eq!(access_row(&pg, "orders_api"), "t|t|t");
    assert_eq!(access_row(&pg, "reporting"), "t|t|f");
    assert_eq!(
        table_privileges(&pg, "orders_api"),
        expected(&[
            ("customers", "SELECT"),
            ("orders", "SELECT,INSERT,UPDATE"),
            ("payments", "SELECT"),
        ])
    );
    assert_eq!(
        table_privileges(&pg, "reporting"),
        expected(&[
            ("customers", "SELECT"),
            ("orders", "SELECT"),
            ("payments", "")
        ])
    );
    // PostgreSQL 17: the admin granted rds_iam through ADMIN OPTION without becoming a member.
    assert!(!pg.admin_is_member_of(ADMIN, "rds_iam"));

    let out = ws.output_json();
    assert_eq!(out["cluster_resource_id"]["value"], resource_id);
    let workloads = &out["workloads"]["value"];
    for (name, user, namespace) in [
        ("orders-api", "orders_api", "shop"),
        ("reporting", "reporting", "analytics"),
    ] {
        let w = &workloads[name];
        assert_eq!(w["db_user"], user);
        assert_eq!(w["namespace"], namespace);
        assert_eq!(w["db_user_arn"], expected_arn(resource_id, user).as_str());
        let policy: Json =
            serde_json::from_str(w["policy_json"].as_str().expect("policy")).expect("JSON");
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([expected_arn(resource_id, user)])
        );
    }

    let state = ws.show_json();
    let mut addresses = BTreeSet::new();
    resource_addresses(&state["values"]["root_module"], &mut addresses);
    for a in [
        r#"module.workload["orders-api"].rdsiam_postgres_grant.write[0]"#,
        r#"module.workload["orders-api"].rdsiam_postgres_grant.sequences[0]"#,
        r#"module.workload["reporting"].rdsiam_postgres_grant.read"#,
        r#"module.workload["reporting"].terraform_data.smoke_test[0]"#,
    ] {
        assert!(addresses.contains(a), "{a} missing from {addresses:#?}");
    }
    assert!(
        !addresses.contains(r#"module.workload["reporting"].rdsiam_postgres_grant.write[0]"#),
        "{addresses:#?}"
    );
    let read = &state_resource(
        &state,
        r#"module.workload["reporting"].rdsiam_postgres_grant.read"#,
    )["values"];
    assert_eq!(read["objects"], serde_json::json!(["orders", "customers"]));

    ws.assert_no_changes();
    ws.ok(&["destroy"]);
    assert_eq!(
        pg.roles(),
        Vec::<String>::new(),
        "destroy left roles behind"
    );
}

/// Parses every unit of examples/terragrunt with python-hcl2 and prints, per unit, what a
/// Terragrunt run would need: its module's variables and outputs, its inputs (root.hcl's merged
/// in) and generated files with `dependency.*.outputs.*` replaced by the mocks and root locals
/// filled in, and its dependencies with the outputs of their modules.
const TERRAGRUNT_UNITS_PY: &str = r#"import json, os, re, sys, textwrap
import hcl2

OPTS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False,
                                 preserve_heredocs=True, strip_string_quotes=True)
REF = re.compile(r"\$\{([^}]*)\}")


def load(path):
    with open(path) as f:
        return hcl2.load(f, serialization_options=OPTS)


def blocks(doc, kind):
    """Labelled blocks of `kind` as {label: body}."""
    out = {}
    for entry in doc.get(kind, []):
        out.update(entry)
    return out


def block(doc, kind):
    """An unlabelled block of `kind` (merged), or {}."""
    out = {}
    for entry in doc.get(kind, []):
        out.update(entry)
    return out


def heredoc(s):
    s = s.strip('"') if s.startswith('"<<') else s
    m = re.match(r"<<(-?)(\w+)\n(.*)\n\s*\2\s*$", s, re.S)
    if not m:
        return s
    return textwrap.dedent(m.group(3)) if m.group(1) else m.group(3)


def module_interface(d):
    """Variables (name -> required) and outputs of the Terraform module in d."""
    variables, outputs = {}, []
    for name in sorted(os.listdir(d)):
        if name.endswith(".tf"):
            doc = load(os.path.join(d, name))
            for var, body in blocks(doc, "variable").items():
                variables[var] = "default" not in body
            outputs += list(blocks(doc, "output"))
    return variables, sorted(outputs)


def find_in_parent_folders(start, name):
    d = os.path.dirname(start)
    while True:
        if os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def main(root):
    units = []
    for dirpath, _, files in os.walk(os.path.join(root, "live")):
        if "terragrunt.hcl" in files:
            units.append(dirpath)
    result = {"units": []}
    for unit in sorted(units):
        doc = load(os.path.join(unit, "terragrunt.hcl"))
        unresolved = []
        includes = {}
        root_doc = {}
        for label, body in blocks(doc, "include").items():
            m = re.fullmatch(r'\$\{find_in_parent_folders\("([^"]+)"\)\}', body.get("path", ""))
            found = find_in_parent_folders(unit, m.group(1)) if m else None
            includes[label] = found
            if found:
                root_doc = load(found)
        root_locals = block(root_doc, "locals")
        deps = []
        values = {}
        for name, dep in blocks(doc, "dependency").items():
            target = os.path.normpath(os.path.join(unit, dep.get("config_path", "")))
            dep_source = None
            if os.path.isfile(os.path.join(target, "terragrunt.hcl")):
                src = block(load(os.path.join(target, "terragrunt.hcl")), "terraform").get("source", "")
                dep_source = os.path.normpath(os.path.join(target, src.replace("//", "/")))
            dep_outputs = module_interface(dep_source)[1] if dep_source and os.path.isdir(dep_source) else None
            mocks = dep.get("mock_outputs", {})
            deps.append({"name": name, "config_path": target,
                         "has_terragrunt_hcl": os.path.isfile(os.path.join(target, "terragrunt.hcl")),
                         "module_outputs": dep_outputs, "mock_outputs": sorted(mocks),
                         "allowed_commands": dep.get("mock_outputs_allowed_terraform_commands")})
            for k, v in mocks.items():
                values["dependency.%s.outputs.%s" % (name, k)] = v
        for k, v in root_locals.items():
            values["local." + k] = v
            values["include.root.locals." + k] = v

        def resolve(v):
            if isinstance(v, dict):
                return {k: resolve(x) for k, x in v.items()}
            if isinstance(v, list):
                return [resolve(x) for x in v]
            if not isinstance(v, str):
                return v
            whole = REF.fullmatch(v)
            if whole and whole.group(1) in values:
                return values[whole.group(1)]

            def sub(m):
                if m.group(1) in values:
                    return str(values[m.group(1)])
                unresolved.append(m.group(0))
                return m.group(0)
            return REF.sub(sub, v)

        inputs = resolve(root_doc.get("inputs", {}))
        inputs.update(resolve(doc.get("inputs", {})))
        source = block(doc, "terraform").get("source", "")
        # `a//b`: Terragrunt copies a and runs in its subdirectory b.
        module_dir = os.path.normpath(os.path.join(unit, source.replace("//", "/")))
        variables, outputs = module_interface(module_dir) if os.path.isdir(module_dir) else ({}, [])
        generate = {label: {"path": g.get("path"), "contents": resolve(heredoc(g.get("contents", "")))}
                    for label, g in blocks(doc, "generate").items()}
        result["units"].append({"dir": os.path.relpath(unit, root), "includes": includes,
                                "module_dir": module_dir, "module_exists": os.path.isdir(module_dir),
                                "variables": variables, "outputs": outputs, "inputs": inputs,
                                "dependencies": deps, "generate": generate,
                                "unresolved": sorted(set(unresolved))})
    print(json.dumps(result))


main(sys.argv[1])
"#;

fn terragrunt_units() -> Json {
    let py = tools_dir().join("venv/bin/python");
    let root = repo_root().join("examples/terragrunt");
    let out = Command::new(&py)
        .arg("-c")
        .arg(TERRAGRUNT_UNITS_PY)
        .arg(&root)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "parsing examples/terragrunt failed (python-hcl2 missing? run scripts/install-tools.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the unit parser")
}

fn names(v: &Json) -> BTreeSet<String> {
    match v {
        Json::Object(m) => m.keys().cloned().collect(),
        Json::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn terragrunt_units_are_wired_and_plan_with_their_mocks() {
    let parsed = terragrunt_units();
    let units = parsed["units"].as_array().expect("units");
    let dirs: BTreeSet<String> = units
        .iter()
        .filter_map(|u| u["dir"].as_str().map(str::to_string))
        .collect();
    let want: BTreeSet<String> = [
        "live/dev/aurora",
        "live/dev/db-iam",
        "live/prod/aurora",
        "live/prod/db-iam",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(dirs, want);

    let mut planned = 0;
    for unit in units {
        let dir = unit["dir"].as_str().unwrap_or_default();
        assert!(
            unit["includes"]["root"]
                .as_str()
                .is_some_and(|p| p.ends_with("examples/terragrunt/root.hcl")),
            "{dir}: include \"root\" does not find root.hcl: {unit}"
        );
        assert_eq!(
            unit["module_exists"], true,
            "{dir}: terraform.source is not a directory"
        );
        assert_eq!(
            unit["unresolved"],
            serde_json::json!([]),
            "{dir}: unresolved references"
        );
        let variables = names(&unit["variables"]);
        let inputs = names(&unit["inputs"]);
        let unknown: Vec<_> = inputs.difference(&variables).collect();
        assert!(
            unknown.is_empty(),
            "{dir}: inputs the module has no variable for: {unknown:?}"
        );
        let required: BTreeSet<String> = unit["variables"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, req)| **req == Json::Bool(true))
            .map(|(k, _)| k.clone())
            .collect();
        let missing: Vec<_> = required.difference(&inputs).collect();
        assert!(
            missing.is_empty(),
            "{dir}: required variables without input: {missing:?}"
        );
        for dep in unit["dependencies"].as_array().into_iter().flatten() {
            let name = &dep["name"];
            assert_eq!(
                dep["has_terragrunt_hcl"], true,
                "{dir}: dependency {name}: no unit at config_path"
            );
            let outputs = names(&dep["module_outputs"]);
            let mocks = names(&dep["mock_outputs"]);
            assert!(
                !mocks.is_empty(),
                "{dir}: dependency {name} has no mock_outputs"
            );
            let fake: Vec<_> = mocks.difference(&outputs).collect();
            assert!(
                fake.is_empty(),
                "{dir}: mock_outputs the dependency's module does not output: {fake:?}"
            );
            assert_eq!(
                dep["allowed_commands"],
                serde_json::json!(["validate", "plan"]),
                "{dir}: mock_outputs_allowed_terraform_commands"
            );
        }
        if unit["dependencies"]
            .as_array()
            .is_some_and(|d| d.is_empty())
        {
            continue;
        }

        // The unit's module, as Terragrunt would run it before the cluster exists: its
        // generated provider block and inputs, with the mock outputs.
        let ws = Workspace::new(TF, provider_bin());
        copy_tf(
            Path::new(unit["module_dir"].as_str().unwrap_or_default()),
            ws.path(),
            false,
        );
        for (label, generated) in unit["generate"].as_object().into_iter().flatten() {
            let path = generated["path"].as_str().expect("generate path");
            let contents = generated["contents"].as_str().expect("generate contents");
            assert!(
                !contents.contains("${"),
                "{dir}: generate {label} not fully resolved"
            );
            ws.write(path, contents);
        }
        ws.write("terraform.tfvars.json", &unit["inputs"].to_string());
        let plan = ws
            .tf_env(&["plan", "-out=unit.tfplan"], FAKE_CREDS)
            .assert_ok();
        plan.assert_contains("rdsiam_postgres_user.this will be created");
        let shown: Json = serde_json::from_str(&ws.ok(&["show", "-json", "unit.tfplan"]).stdout)
            .expect("plan JSON");
        let user = shown["planned_values"]["root_module"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["address"] == "rdsiam_postgres_user.this")
            .unwrap_or_else(|| panic!("{dir}: no user in the plan"));
        assert_eq!(user["values"]["name"], unit["inputs"]["db_user"]);
        assert_eq!(
            user["values"]["connection_limit"],
            unit["inputs"]["connection_limit"]
        );
        planned += 1;
    }
    assert_eq!(planned, 2, "both db-iam units planned");
}
