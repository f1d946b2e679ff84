# One workload's way into an Aurora PostgreSQL cluster with IAM authentication:
# a NOLOGIN group role holding the grants, the PostgreSQL user (a member of rds_iam and of the
# group), the rds-db:connect policy for it and,
# optionally, a smoke test logging in with a short-lived IAM token that never reaches plan or
# state. Usable as a child module or on its own as a root module (e.g. a Terragrunt unit).

# The grants go to a group role; the user (and any later one) gets them by membership.
resource "rdsiam_postgres_role" "this" {
  name = coalesce(var.group_role, "${var.db_user}_access")
}

resource "rdsiam_postgres_user" "this" {
  name             = var.db_user
  connection_limit = var.connection_limit
  roles            = [rdsiam_postgres_role.this.name]
}

resource "rdsiam_postgres_grant" "connect" {
  role        = rdsiam_postgres_role.this.name
  database    = var.database
  object_type = "database"
  privileges  = ["CONNECT"]
}

resource "rdsiam_postgres_grant" "schema" {
  role        = rdsiam_postgres_role.this.name
  database    = var.database
  object_type = "schema"
  schema      = var.schema
  privileges  = ["USAGE"]
}

resource "rdsiam_postgres_grant" "read" {
  role        = rdsiam_postgres_role.this.name
  database    = var.database
  object_type = "table"
  schema      = var.schema
  objects     = var.read_tables
  privileges  = ["SELECT"]
}

resource "rdsiam_postgres_grant" "write" {
  count = length(var.write_tables) > 0 ? 1 : 0

  role        = rdsiam_postgres_role.this.name
  database    = var.database
  object_type = "table"
  schema      = var.schema
  objects     = var.write_tables
  privileges  = ["INSERT", "UPDATE"]
}

# Inserting into serial / identity columns draws from their sequences.
resource "rdsiam_postgres_grant" "sequences" {
  count = length(var.write_tables) > 0 ? 1 : 0

  role        = rdsiam_postgres_role.this.name
  database    = var.database
  object_type = "sequence"
  schema      = var.schema
  privileges  = ["USAGE"]
}

data "rdsiam_policy_document" "connect" {
  region      = var.region
  account_id  = var.account_id
  resource_id = var.cluster_resource_id
  db_users    = [rdsiam_postgres_user.this.name]
}

# Optional smoke test: log in once as the new user with a fresh IAM token and run a command.
# The token is ephemeral (never in plan or state) and signed with the credentials Terraform
# runs with, so those must be allowed rds-db:connect as this user too.
ephemeral "rdsiam_auth_token" "smoke_test" {
  count = var.smoke_test ? 1 : 0

  hostname = var.cluster_endpoint
  port     = var.cluster_port
  username = rdsiam_postgres_user.this.name
  region   = var.region
}

resource "terraform_data" "smoke_test" {
  count = var.smoke_test ? 1 : 0

  triggers_replace = [rdsiam_postgres_user.this.name]

  provisioner "local-exec" {
    command = var.smoke_test_command
    environment = {
      PGHOST        = var.cluster_endpoint
      PGPORT        = var.cluster_port
      PGDATABASE    = var.database
      PGUSER        = rdsiam_postgres_user.this.name
      PGPASSWORD    = ephemeral.rdsiam_auth_token.smoke_test[0].token
      PGSSLMODE     = "verify-full"
      PGSSLROOTCERT = var.smoke_test_ca_cert
    }
  }

  depends_on = [rdsiam_postgres_user.this, rdsiam_postgres_grant.connect, rdsiam_postgres_grant.schema, rdsiam_postgres_grant.read]
}
