//! `postgres.password_secret` through real Terraform against moto's Secrets Manager and real
//! PostgreSQL: an RDS-style master secret (`{"username","password","engine","host",…}`) is the
//! provider's login, rotated between two applies (the second apply reads the new one) and in the
//! middle of one apply (the provider's cached password is rejected, the secret read again once,
//! the connection retried); a plain-string secret with `username` in the block; errors that
//! name the secret and never its value; and the conflicts with `password` / `iam_auth` at plan
//! time. No password of a secret ever appears in the state, `terraform show -json`, a plan or
//! `TF_LOG=trace` output.

use crate::support;

use serde_json::{Value as Json, json};
use support::moto::{self, FAKE_CREDS, Moto, REGION};
use support::postgres::{PROVIDER_APP, PgCluster, psql_bin, quote_ident, quote_literal, shared};
use support::{Output, REQUIRED_PROVIDERS, TF_VERSIONS, Workspace, hcl, provider_bin, venv_bin};

/// The newest server the database tests use.
fn pg() -> &'static PgCluster {
    shared(support::postgres::PG_MAJORS[support::postgres::PG_MAJORS.len() - 1])
}

/// A workspace whose runs see only moto's fake AWS credentials (and an empty `HOME`); every
/// run's output is kept so the test can check that no password ever showed.
struct Ws {
    ws: Workspace,
    home: tempfile::TempDir,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Ws {
    fn new(version: &str, main_tf: &str) -> Ws {
        let ws = Workspace::new(version, provider_bin());
        ws.write("main.tf", main_tf);
        Ws {
            ws,
            home: tempfile::tempdir().expect("temp HOME"),
            seen: Default::default(),
        }
    }

    /// Terraform under `TF_LOG=trace` with moto's credentials.
    fn tf(&self, args: &[&str]) -> Output {
        let mut env: Vec<(&str, &str)> = FAKE_CREDS.to_vec();
        env.push(("TF_LOG", "trace"));
        let out = moto::tf_without_aws(&self.ws, self.home.path(), args, &env);
        self.seen.borrow_mut().push(out.combined());
        out
    }

    /// Keeps `show -json` of the saved plan `plan_file` and the plan file's members for
    /// [`Ws::assert_never_shown`] (before it is applied: then it is stale).
    #[track_caller]
    fn keep_plan(&self, plan_file: &str) {
        let shown = self.tf(&["show", "-json", plan_file]).assert_ok().stdout;
        assert!(shown.contains("resource_changes"), "{shown}");
        let text = support::plan_file_text(&self.ws.path().join(plan_file));
        self.seen.borrow_mut().push(text);
    }

    /// Panics if one of `secrets` appears in any output so far (plans kept by
    /// [`Ws::keep_plan`] included), the state or `show -json`.
    #[track_caller]
    fn assert_never_shown(&self, secrets: &[&str]) {
        let mut places: Vec<(String, String)> = self
            .seen
            .borrow()
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("output of run {i}"), s.clone()))
            .collect();
        places.push((
            "terraform.tfstate".into(),
            self.ws.read("terraform.tfstate"),
        ));
        places.push((
            "show -json".into(),
            self.tf(&["show", "-json"]).assert_ok().stdout,
        ));
        for (what, text) in &places {
            for s in secrets {
                assert!(!text.contains(s), "a secret's password shows in {what}");
            }
        }
    }
}

/// The JSON RDS keeps in a master user secret it manages (plus the keys the console adds).
fn rds_secret(user: &str, password: &str, pg: &PgCluster) -> String {
    json!({
        "username": user,
        "password": password,
        "engine": "postgres",
        "host": "localhost",
        "port": pg.port(),
        "dbInstanceIdentifier": "secrets-test",
    })
    .to_string()
}

/// Creates secret `name` holding `text`; its ARN.
fn create_secret(moto: &Moto, name: &str, text: &str) -> String {
    let out = moto.boto3(
        "s = client('secretsmanager').create_secret(Name=ARGS['name'], SecretString=ARGS['text'])\n\
         print(json.dumps(s['ARN']))",
        &json!({"name": name, "text": text}),
    );
    out.as_str().unwrap_or_default().to_string()
}

/// A new AWSCURRENT version of secret `id` (as rotation writes it).
fn put_secret(moto: &Moto, id: &str, text: &str) {
    moto.boto3(
        "client('secretsmanager').put_secret_value(SecretId=ARGS['id'], SecretString=ARGS['text'])\n\
         print('null')",
        &json!({"id": id, "text": text}),
    );
}

fn alter_password(pg: &PgCluster, role: &str, password: &str) {
    pg.psql(
        "postgres",
        &format!(
            "ALTER ROLE {} PASSWORD {};",
            quote_ident(role),
            quote_literal(password)
        ),
    );
}

fn drop_role(pg: &PgCluster, role: &str) {
    pg.psql(
        "postgres",
        &format!("DROP ROLE IF EXISTS {};", quote_ident(role)),
    );
}

/// The provider block: moto for Secrets Manager, `pg` over verify-full TLS, the login from
/// `secret`; `extra` are more (indented) lines of the `postgres` block.
fn provider(moto: &Moto, pg: &PgCluster, secret: &str, extra: &str) -> String {
    format!(
        "{REQUIRED_PROVIDERS}provider \"rdsiam\" {{\n  aws {{\n    region = \"{REGION}\"\n    \
         endpoints {{\n      secretsmanager = \"{ep}\"\n    }}\n  }}\n  postgres {{\n    \
         host            = \"localhost\"\n    port            = {port}\n    \
         sslmode         = \"verify-full\"\n    sslrootcert     = {ca}\n    \
         password_secret = {secret}\n{extra}  }}\n}}\n",
        ep = moto.endpoint(),
        port = pg.port(),
        ca = hcl(&pg.ca_path().to_string_lossy()),
        secret = hcl(secret),
    )
}

fn roles(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("resource \"rdsiam_postgres_role\" {n:?} {{\n  name = {n:?}\n}}\n"))
        .collect()
}

/// Lines of our plugin in a `TF_LOG` output with `message`.
fn plugin_lines_with<'a>(out: &'a Output, message: &str) -> Vec<&'a str> {
    out.stderr
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-rdsiam") && l.contains(message))
        .collect()
}

#[test]
fn rds_managed_secret_rotated_between_applies() {
    let moto = Moto::start();
    let pg = pg();
    for &version in TF_VERSIONS {
        let tag = version.replace('.', "_");
        let admin = format!("sec_admin_{tag}");
        let (pw1, pw2) = (
            format!("Sm-Rot1-{tag}-x7Qp9Lw2"),
            format!("Sm-Rot2-{tag}-k3Vb8Nz5"),
        );
        let (r1, r2) = (format!("sec_rot_{tag}_a"), format!("sec_rot_{tag}_b"));
        pg.make_rds_like_admin(&admin, &pw1);
        // RDS names the secrets it manages `rds!db-<uuid>`; the ARN is what users copy.
        let arn = create_secret(
            &moto,
            &format!("rds!db-{tag}"),
            &rds_secret(&admin, &pw1, pg),
        );
        assert!(
            arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
            "{arn}"
        );

        // No username in the block: the secret's.
        let ws = Ws::new(
            version,
            &format!("{}{}", provider(&moto, pg, &arn, ""), roles(&[&r1])),
        );
        let applied = ws.tf(&["apply"]).assert_ok();
        assert!(pg.role_exists(&r1), "terraform {version}");
        // The trace has our lines (so the checks below look at something), naming the secret.
        let read = plugin_lines_with(&applied, "Secrets Manager secret read");
        assert!(
            read.iter()
                .any(|l| l.contains(&arn) && l.contains("has_username=true")),
            "terraform {version}: no trace line of the secret read:\n{}",
            applied.stderr
        );
        // The login role was the secret's.
        let opened = plugin_lines_with(&applied, "PostgreSQL connection opened");
        assert!(
            !opened.is_empty() && opened.iter().all(|l| l.contains(&format!("user={admin}"))),
            "terraform {version}: {opened:?}"
        );
        ws.tf(&["plan", "-detailed-exitcode"]).assert_ok();

        // Rotation: the role's password changes, then the secret (as RDS does it).
        alter_password(pg, &admin, &pw2);
        put_secret(&moto, &arn, &rds_secret(&admin, &pw2, pg));
        ws.ws.write(
            "main.tf",
            &format!("{}{}", provider(&moto, pg, &arn, ""), roles(&[&r1, &r2])),
        );
        let plan = ws.tf(&["plan", "-out=rotated.tfplan"]).assert_ok();
        plan.assert_contains(&format!("rdsiam_postgres_role.{r2} will be created"));
        ws.keep_plan("rotated.tfplan");
        ws.tf(&["apply", "rotated.tfplan"]).assert_ok();
        assert!(pg.role_exists(&r2), "terraform {version}: the second apply");
        ws.assert_never_shown(&[&pw1, &pw2]);

        ws.tf(&["destroy"]).assert_ok();
        assert!(!pg.role_exists(&r1) && !pg.role_exists(&r2));
        ws.assert_never_shown(&[&pw1, &pw2]);
        drop_role(pg, &admin);
    }
}

#[test]
fn rotation_mid_apply_reads_the_secret_again_once() {
    let moto = Moto::start();
    let pg = pg();
    let admin = "sec_admin_mid";
    let (pw1, pw2) = ("Sm-Mid1-q8Rt4Yh6", "Sm-Mid2-z5Xc2Mn7");
    let (r1, r2) = ("sec_mid_a", "sec_mid_b");
    pg.make_rds_like_admin(admin, pw1);
    let name = "rds!db-mid-apply";
    create_secret(&moto, name, &rds_secret(admin, pw1, pg));

    // Between the two roles, a provisioner rotates the password and the secret and ends the
    // provider's sessions, so the second role needs a new connection: the cached password is
    // rejected, the secret read again, the connection retried.
    let (su, su_pw) = pg.superuser();
    let sql = format!(
        "ALTER ROLE {} PASSWORD {}; SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = {} AND application_name = {}",
        quote_ident(admin),
        quote_literal(pw2),
        quote_literal(admin),
        quote_literal(PROVIDER_APP)
    );
    let script = format!(
        "import boto3, json, os, subprocess\n\
         subprocess.run([{psql}, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', {conninfo}, '-c', {sql}], \
         check=True, env=dict(os.environ, PGPASSWORD={su_pw}))\n\
         boto3.client('secretsmanager', endpoint_url={ep}, region_name='{REGION}', \
         aws_access_key_id='testing', aws_secret_access_key='testing')\
         .put_secret_value(SecretId={name}, SecretString={text})\n",
        psql = Json::from(psql_bin().to_string_lossy()),
        conninfo = Json::from(pg.conninfo("postgres", su)),
        sql = Json::from(sql),
        su_pw = Json::from(su_pw),
        ep = Json::from(moto.endpoint()),
        name = Json::from(name),
        text = Json::from(rds_secret(admin, pw2, pg)),
    );
    let config = format!(
        "{provider}\
         resource \"rdsiam_postgres_role\" \"a\" {{\n  name = \"{r1}\"\n}}\n\
         resource \"terraform_data\" \"rotate\" {{\n  depends_on = [rdsiam_postgres_role.a]\n  \
         provisioner \"local-exec\" {{\n    command = \"{python} rotate.py\"\n  }}\n}}\n\
         resource \"rdsiam_postgres_role\" \"b\" {{\n  depends_on = [terraform_data.rotate]\n  \
         name = \"{r2}\"\n}}\n",
        provider = provider(&moto, pg, name, ""),
        python = venv_bin("python").display(),
    );
    let ws = Ws::new(TF_VERSIONS[0], &config);
    ws.ws.write("rotate.py", &script);
    let applied = ws.tf(&["apply"]).assert_ok();
    assert!(pg.role_exists(r1) && pg.role_exists(r2));
    let again = plugin_lines_with(&applied, "reading the secret again");
    assert_eq!(again.len(), 1, "one re-read:\n{}", applied.stderr);
    assert!(again[0].contains(name), "{}", again[0]);
    ws.tf(&["plan", "-detailed-exitcode"]).assert_ok();
    ws.tf(&["destroy"]).assert_ok();
    // The rotation script holds the new password; nothing Terraform printed or stored does.
    ws.ws.remove("rotate.py");
    ws.assert_never_shown(&[pw1, pw2]);
    drop_role(pg, admin);
}

#[test]
fn plain_secret_and_errors_name_the_secret_never_its_value() {
    let moto = Moto::start();
    let pg = pg();
    let admin = "sec_admin_plain";
    let pw = "Sm-Plain-w4Ej7Ua3";
    let wrong = "Sm-Wrong-p2Gd5Kf9";
    let role = "sec_plain_a";
    pg.make_rds_like_admin(admin, pw);
    let name = "team/db-admin-password";
    create_secret(&moto, name, pw);

    // A plain string is the password; the login role comes from the block.
    let user_line = format!("    username        = \"{admin}\"\n");
    let ws = Ws::new(
        TF_VERSIONS[0],
        &format!(
            "{}{}",
            provider(&moto, pg, name, &user_line),
            roles(&[role])
        ),
    );
    ws.tf(&["apply"]).assert_ok();
    assert!(pg.role_exists(role));

    // A secret holding a password the server rejects: read again once, then a clear error.
    put_secret(&moto, name, wrong);
    let out = ws.tf(&["plan"]).assert_fails();
    out.assert_mentions_words(&[
        "password authentication failed",
        &format!(
            "the password in Secrets Manager secret \"{name}\" (read again just now) is the one \
             the server rejected"
        ),
    ]);
    put_secret(&moto, name, pw);

    // A JSON secret without a password, and a secret that does not exist.
    let no_pw = "team/not-a-login";
    create_secret(&moto, no_pw, r#"{"user":"x","pass":"Sm-Hidden-b6Tn1Qs8"}"#);
    for (id, expect) in [
        (no_pw, "without a \"password\" key (its keys: user, pass)"),
        (
            "team/does-not-exist",
            "No Secrets Manager secret \"team/does-not-exist\" exists in region us-east-1",
        ),
    ] {
        ws.ws.write(
            "main.tf",
            &format!("{}{}", provider(&moto, pg, id, &user_line), roles(&[role])),
        );
        let out = ws.tf(&["plan"]).assert_fails();
        out.assert_mentions_words(&[expect, &format!("Secrets Manager secret \"{id}\"")]);
    }
    ws.ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider(&moto, pg, name, &user_line),
            roles(&[role])
        ),
    );
    ws.tf(&["destroy"]).assert_ok();
    ws.assert_never_shown(&[pw, wrong, "Sm-Hidden-b6Tn1Qs8"]);
    drop_role(pg, admin);
}

#[test]
fn password_secret_conflicts_at_plan_time() {
    for &version in TF_VERSIONS {
        for (other, value) in [
            ("password", "\"Sm-Conflict-r9Lm3Vc1\""),
            ("iam_auth", "true"),
        ] {
            let config = format!(
                "{REQUIRED_PROVIDERS}provider \"rdsiam\" {{\n  postgres {{\n    host            = \"localhost\"\n    \
                 username        = \"admin\"\n    password_secret = \"prod/db-admin\"\n    \
                 {other:<15} = {value}\n  }}\n}}\n{}",
                roles(&["sec_conflict"])
            );
            let ws = Workspace::new(version, provider_bin());
            ws.write("main.tf", &config);
            let out = ws.tf(&["validate", "-json"]);
            let v: Json = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("validate -json: {e}\n{out}"));
            let diags = v["diagnostics"].as_array().cloned().unwrap_or_default();
            let errors: Vec<&Json> = diags.iter().filter(|d| d["severity"] == "error").collect();
            assert_eq!(errors.len(), 1, "terraform {version}, {other}: {diags:?}");
            let d = errors[0];
            assert_eq!(d["summary"], "Conflicting authentication");
            assert!(
                d["detail"].as_str().unwrap_or_default().contains(other),
                "{d}"
            );
            // On the password_secret line.
            let line = config
                .lines()
                .position(|l| l.trim_start().starts_with("password_secret"))
                .map(|i| i + 1);
            assert_eq!(
                d["range"]["start"]["line"].as_u64(),
                line.map(|l| l as u64),
                "terraform {version}: {d}"
            );
            let code = d["snippet"]["code"].as_str().unwrap_or_default();
            assert!(code.contains("password_secret"), "{d}");
            assert!(!out.combined().contains("Sm-Conflict-r9Lm3Vc1"));
            // Plan stops at the same diagnostic, before anything connects.
            let plan = ws.fails(&["plan"]);
            plan.assert_contains("Conflicting authentication");
            assert!(!plan.combined().contains("Sm-Conflict-r9Lm3Vc1"));
        }
    }
}
