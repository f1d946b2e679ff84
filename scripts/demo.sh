#!/usr/bin/env bash
# `make demo`: from a fresh clone to a working apply, with nothing but this machine.
#
# Builds the provider, starts a throwaway PostgreSQL 15 that looks like RDS (TLS, an admin that
# is not a superuser, the rds_iam role) and moto (an AWS API emulator) holding an Aurora
# cluster with IAM auth on, applies examples/quickstart with Terraform 1.15.5, shows what the
# database now says, logs in as the new user with an IAM token, re-plans (no changes expected),
# destroys and tears everything down.
#
# KEEP=1 keeps everything running afterwards (nothing destroyed) and prints how to connect and
# how to tear down.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

KEEP="${KEEP:-0}"
TOTAL=11
STEP=0
STEP_NAME=""
STEP_LOG=""
CLUSTER_ID=demo-aurora
REGION=us-east-1
APP_USER=orders_app
DB=shop

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() {
  STEP=$((STEP + 1))
  STEP_LOG=""
  STEP_NAME="$*"
  echo
  bold "==> [$STEP/$TOTAL] $*"
}
note() { printf '    %s\n' "$@"; }
indent() { sed 's/^/    /'; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

# Nothing inherited may point Terraform, the AWS SDK or libpq elsewhere.
for v in $(env | sed -n 's/^\(TF_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(PG[A-Z]*\)=.*/\1/p'); do
  unset "$v"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rdsiam-demo.XXXXXX")"
# PostgreSQL runs as its own OS user when we are root: it must reach its directory below this.
chmod 0755 "$WORK"
PG_DIR="$WORK/postgres"
MOTO_DIR="$WORK/moto"
TF_DIR="$WORK/quickstart"
LOG="$WORK/logs"
mkdir -p "$LOG" "$TF_DIR"

teardown() {
  scripts/local-moto.sh stop "$MOTO_DIR" || true
  scripts/local-postgres.sh stop "$PG_DIR" || true
  rm -rf "$WORK"
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ]; then
    # The failing step's log, before it goes away with the rest.
    if [ -n "$STEP_LOG" ] && [ -s "$STEP_LOG" ]; then
      printf '\n--- last lines of %s ---\n' "$STEP_LOG" >&2
      tail -n 30 "$STEP_LOG" >&2
    fi
    if [ "$rc" = 130 ]; then
      printf '\nInterrupted at step %s/%s (%s).\n' "$STEP" "$TOTAL" "$STEP_NAME" >&2
    else
      printf '\nThe demo failed at step %s/%s (%s), exit code %s.\n' "$STEP" "$TOTAL" "$STEP_NAME" "$rc" >&2
    fi
  fi
  if [ "$KEEP" = 1 ]; then
    [ "$rc" = 0 ] || printf 'KEEP=1: everything is left in %s (logs in %s); tear down with %s/teardown.sh\n' "$WORK" "$LOG" "$WORK" >&2
    return
  fi
  [ "$rc" = 0 ] || printf '(KEEP=1 make demo keeps the logs and the servers for a look.)\n' >&2
  teardown
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Run a command with its output in $LOG/NAME.log, shown only if it fails.
quietly() {
  local name="$1"
  shift
  STEP_LOG="$LOG/$name.log"
  "$@" >"$STEP_LOG" 2>&1 || die "$name failed"
}

START_ALL=$(date +%s)

step "Installing the tools into .tools/ (Terraform, PostgreSQL, moto; downloads only on the first run)"
quietly install-tools scripts/install-tools.sh
TF="$ROOT/.tools/bin/terraform-1.15.5"
AWS="$ROOT/.tools/venv/bin/aws"
note "$("$TF" version | head -n1), $("$ROOT/.tools/pg/15/bin/postgres" --version), moto $("$ROOT/.tools/venv/bin/python" -c 'import moto; print(moto.__version__)')"

step "Building terraform-provider-rdsiam (cargo build --release; the first build takes a few minutes)"
cargo build --release --quiet
note "$ROOT/target/release/terraform-provider-rdsiam"
START=$(date +%s)

step "Starting PostgreSQL 15 with RDS-like roles on localhost (TLS, random port)"
STEP_LOG="$LOG/postgres.log"
PG_PORT="$(scripts/local-postgres.sh start "$PG_DIR" 15 2>"$STEP_LOG")" || die "PostgreSQL did not start"
# shellcheck disable=SC1091
. "$PG_DIR/env.sh"
note "listening on localhost:$PG_PORT, TLS with a fresh CA ($PG_CA)" \
  "dbadmin: the provider's login, like the RDS master user: CREATEROLE, member of rds_superuser, not a superuser" \
  "rds_iam: the role that makes RDS accept IAM tokens instead of passwords"
# The superuser over the Unix socket, for the demo's own set-up and inspection only.
su_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET" -p "$PG_PORT" -U postgres "$@"; }
# What the application's own migrations would have created: owned by dbadmin, like on RDS.
su_psql -d postgres -c "CREATE DATABASE $DB OWNER dbadmin" >/dev/null
su_psql -d "$DB" >/dev/null <<'SQL'
SET ROLE dbadmin;
CREATE SCHEMA sales;
CREATE TABLE sales.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE sales.orders (id serial PRIMARY KEY, customer_id int REFERENCES sales.customers, total numeric NOT NULL);
CREATE TABLE sales.payments (order_id int REFERENCES sales.orders, amount numeric NOT NULL);
INSERT INTO sales.customers VALUES (1, 'Ada'), (2, 'Grace');
INSERT INTO sales.orders (customer_id, total) VALUES (1, 42.00), (2, 17.50);
SQL
note "database $DB: schema sales with tables customers, orders, payments (owned by dbadmin)"

step "Starting moto (AWS API emulator) with Aurora PostgreSQL cluster $CLUSTER_ID, IAM auth on"
STEP_LOG="$LOG/moto.log"
MOTO_PORT="$(scripts/local-moto.sh start "$MOTO_DIR" 2>"$STEP_LOG")" || die "moto did not start"
# shellcheck disable=SC1091
. "$MOTO_DIR/env.sh"
scripts/local-moto.sh aurora "$MOTO_DIR" "$CLUSTER_ID" true >"$WORK/cluster.json" 2>"$STEP_LOG" \
  || die "could not create the Aurora cluster in moto"
note "moto at $MOTO_ENDPOINT (region $REGION, account 123456789012, any access key accepted)"
note "$("$ROOT/.tools/venv/bin/python" - "$WORK/cluster.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print("cluster %s: resource id %s, endpoint %s" % (c["DBClusterIdentifier"], c["DbClusterResourceId"], c["Endpoint"]))
PY
)"

# Terraform's environment: the local build instead of the registry, the demo's AWS and
# PostgreSQL.
cp examples/quickstart/*.tf "$TF_DIR/"
cat >"$WORK/terraformrc" <<HCL
provider_installation {
  dev_overrides {
    "registry.terraform.io/rdsiam/rdsiam" = "$ROOT/target/release"
  }
  direct {}
}
HCL
cat >"$WORK/env.sh" <<ENV
export TF_CLI_CONFIG_FILE="$WORK/terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=$REGION AWS_EC2_METADATA_DISABLED=true
export TF_VAR_aws_endpoint="$MOTO_ENDPOINT" TF_VAR_region=$REGION TF_VAR_cluster_identifier=$CLUSTER_ID
export TF_VAR_db_host=localhost TF_VAR_db_port=$PG_PORT TF_VAR_db_ca_cert="$PG_CA"
export TF_VAR_db_admin_username=dbadmin TF_VAR_db_admin_password="$PG_ADMIN_PASSWORD"
ENV
cat >"$WORK/teardown.sh" <<SH
#!/usr/bin/env bash
# Stops the demo's moto and PostgreSQL and removes $WORK.
"$ROOT/scripts/local-moto.sh" stop "$MOTO_DIR"
"$ROOT/scripts/local-postgres.sh" stop "$PG_DIR"
rm -rf "$WORK"
echo "demo torn down"
SH
chmod +x "$WORK/teardown.sh"
# shellcheck disable=SC1091
. "$WORK/env.sh"
tf() { "$TF" -chdir="$TF_DIR" "$@"; }

step "terraform apply examples/quickstart (Terraform 1.15.5)"
STEP_LOG="$LOG/apply.log"
tf apply -auto-approve -no-color >"$STEP_LOG" 2>&1 || die "terraform apply failed"
grep -E -e ': (Creation|Read) complete' -e '^Apply complete' "$LOG/apply.log" | sed 's/ after [0-9.]*m\?s//' | indent

step "Outputs"
for o in app_user cluster_endpoint cluster_resource_id db_user_arn; do
  printf '    %-20s = %s\n' "$o" "$(tf output -raw "$o")"
done
echo "    policy_json (attach to the workload's IAM role) ="
tf output -raw policy_json | "$ROOT/.tools/venv/bin/python" -m json.tool | sed 's/^/      /'

step "What the database now says about $APP_USER (catalog queries as the superuser)"
su_psql -d "$DB" -P footer=off <<SQL | indent
\echo The role:
SELECT r.rolname AS role, r.rolcanlogin AS can_login, r.rolsuper AS superuser,
       r.rolconnlimit AS connection_limit,
       ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname = '$APP_USER';
\echo Its effective privileges (has_database_privilege, has_schema_privilege, information_schema.role_table_grants;
\echo TEMPORARY on the database comes from PUBLIC, which PostgreSQL grants it by default):
SELECT 'database $DB' AS object, string_agg(p, ', ') AS privileges
  FROM unnest(ARRAY['CONNECT', 'CREATE', 'TEMPORARY']) p WHERE has_database_privilege('$APP_USER', '$DB', p)
UNION ALL
SELECT 'schema sales', string_agg(p, ', ')
  FROM unnest(ARRAY['USAGE', 'CREATE']) p WHERE has_schema_privilege('$APP_USER', 'sales', p)
UNION ALL
SELECT * FROM (SELECT 'table ' || table_schema || '.' || table_name,
                      string_agg(privilege_type, ', ' ORDER BY privilege_type)
               FROM information_schema.role_table_grants
               WHERE grantee = '$APP_USER' GROUP BY table_schema, table_name ORDER BY 1) t;
\echo What it may do, table by table (has_table_privilege):
SELECT c.relname AS "table",
       has_table_privilege('$APP_USER', c.oid, 'SELECT') AS "select",
       has_table_privilege('$APP_USER', c.oid, 'INSERT') AS "insert",
       has_table_privilege('$APP_USER', c.oid, 'UPDATE') AS "update",
       has_table_privilege('$APP_USER', c.oid, 'DELETE') AS "delete"
FROM pg_class c WHERE c.relnamespace = 'sales'::regnamespace AND c.relkind = 'r' ORDER BY 1;
SQL

step "Logging in as $APP_USER with an IAM token, as the workload would"
note "On AWS the workload runs (terraform output connect_command):"
echo
tf output -raw connect_command | fold -w 92 -s | sed 's/^/      /'
echo
echo
TOKEN="$("$AWS" rds generate-db-auth-token --region "$REGION" --hostname localhost --port "$PG_PORT" --username "$APP_USER")"
note "Here: the same aws command, for localhost:$PG_PORT, gives a token of ${#TOKEN} characters:" \
  "  ${TOKEN:0:72}..." \
  "Only RDS can check IAM tokens; this local PostgreSQL stands in by taking this one token as" \
  "$APP_USER's password (the demo sets it as the superuser). Then, exactly as on AWS:" ""
printf 'ALTER ROLE %s PASSWORD :'"'"'tok'"'"';\n' "$APP_USER" | su_psql -d postgres -v tok="$TOKEN" >/dev/null
note "\$ PGPASSWORD=\"\$TOKEN\" psql \"host=localhost port=$PG_PORT dbname=$DB user=$APP_USER sslmode=verify-full sslrootcert=$PG_CA\""
PGPASSWORD="$TOKEN" psql -X -q -v ON_ERROR_STOP=1 -P footer=off \
  "host=localhost port=$PG_PORT dbname=$DB user=$APP_USER sslmode=verify-full sslrootcert=$PG_CA" <<'SQL' 2>&1 | indent
\echo -- who am I, over TLS?
SELECT current_user, ssl AS tls, version AS tls_version FROM pg_stat_ssl WHERE pid = pg_backend_pid();
\echo -- read (SELECT on every table of sales) and write (INSERT, UPDATE on orders only):
SELECT o.id, c.name, o.total FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id ORDER BY o.id;
INSERT INTO sales.orders (customer_id, total) VALUES (2, 99.90) RETURNING id, total;
\echo -- not granted, so refused:
\set ON_ERROR_STOP 0
DELETE FROM sales.orders;
INSERT INTO sales.payments VALUES (1, 42.00);
SQL
unset TOKEN

step "terraform plan: expect no changes"
set +e
STEP_LOG="$LOG/plan.log"
tf plan -detailed-exitcode -no-color >"$STEP_LOG" 2>&1
rc=$?
set -e
case "$rc" in
  0) grep -E '^No changes' "$STEP_LOG" | indent ;;
  2) die "the plan after apply is not empty" ;;
  *) die "terraform plan failed" ;;
esac

if [ "$KEEP" = 1 ]; then
  step "KEEP=1: keeping the user, PostgreSQL and moto"
  note "nothing destroyed"
  step "How to look around and how to tear down"
  cat <<TXT | indent
Everything lives in $WORK.
As the provider's admin:   PGPASSWORD=$PG_ADMIN_PASSWORD psql "host=localhost port=$PG_PORT dbname=$DB user=dbadmin sslmode=verify-full sslrootcert=$PG_CA"
As the superuser:          psql -h $PG_SOCKET -p $PG_PORT -U postgres $DB
Terraform, in a shell:     . $WORK/env.sh; cd $TF_DIR; $TF plan
AWS CLI against moto:      . $WORK/env.sh; $AWS --endpoint-url $MOTO_ENDPOINT rds describe-db-clusters
Tear down:                 $WORK/teardown.sh
TXT
  exit 0
fi

step "terraform destroy, then check that $APP_USER is gone"
quietly destroy tf destroy -auto-approve -no-color
grep -E -e '^Destroy complete' "$LOG/destroy.log" | indent
left="$(su_psql -d postgres -At -c "SELECT count(*) FROM pg_roles WHERE rolname = '$APP_USER'")"
[ "$left" = 0 ] || die "$APP_USER still exists after destroy"
note "pg_roles has no $APP_USER any more"

step "Tearing down: PostgreSQL stopped, moto stopped, $WORK removed"
trap - EXIT
teardown
note "done: $(($(date +%s) - START)) s after the build, $(($(date +%s) - START_ALL)) s in all"
