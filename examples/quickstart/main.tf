# Quickstart: give one workload IAM access to an Aurora PostgreSQL database.
#
#   1. look the cluster up (its resource id, "cluster-…", is what IAM policies name)
#   2. a NOLOGIN group role holds the grants: CONNECT, USAGE on the schema, table privileges
#      (the recommended least-privilege pattern: more users can join it later)
#   3. create the PostgreSQL user, a member of rds_iam (IAM tokens) and of the group
#   4. build the rds-db:connect policy for it (attach it to the workload's IAM role with
#      hashicorp/aws: see examples/aurora-iam)
#
# `make demo` applies this against a local PostgreSQL and moto (an AWS API emulator); the
# variables below are all it needs to point at a real cluster instead.

terraform {
  required_providers {
    rdsiam = {
      source = "rdsiam/rdsiam"
    }
  }
}

provider "rdsiam" {
  aws {
    region = var.region
    # Only for AWS API emulators such as moto; null means the real AWS endpoints.
    endpoints {
      rds = var.aws_endpoint
      sts = var.aws_endpoint
    }
  }

  # How the provider itself logs in to manage users and grants. On RDS this is the master user
  # (or a role with CREATEROLE holding rds_iam WITH ADMIN OPTION); there you can also drop the
  # password and set iam_auth = true.
  postgres {
    host        = var.db_host
    port        = var.db_port
    database    = var.database
    username    = var.db_admin_username
    password    = var.db_admin_password
    sslrootcert = var.db_ca_cert # null: the system's CAs and the built-in RDS CA bundle
  }
}

data "rdsiam_cluster" "main" {
  cluster_identifier = var.cluster_identifier
}

# The group that holds the privileges; users get them by membership.
resource "rdsiam_postgres_role" "app" {
  name = var.app_role
}

resource "rdsiam_postgres_user" "app" {
  name             = var.app_user
  connection_limit = 20
  roles            = [rdsiam_postgres_role.app.name]
}

resource "rdsiam_postgres_grant" "connect" {
  role        = rdsiam_postgres_role.app.name
  database    = var.database
  object_type = "database"
  privileges  = ["CONNECT"]
}

resource "rdsiam_postgres_grant" "schema" {
  role        = rdsiam_postgres_role.app.name
  database    = var.database
  object_type = "schema"
  schema      = var.schema
  privileges  = ["USAGE"]
}

# Read every table of the schema...
resource "rdsiam_postgres_grant" "read_all" {
  role        = rdsiam_postgres_role.app.name
  database    = var.database
  object_type = "table"
  schema      = var.schema
  privileges  = ["SELECT"]
}

# ...and write only the ones listed.
resource "rdsiam_postgres_grant" "write" {
  role        = rdsiam_postgres_role.app.name
  database    = var.database
  object_type = "table"
  schema      = var.schema
  objects     = var.writable_tables
  privileges  = ["INSERT", "UPDATE"]
}

# INSERT into a table with a serial / identity column draws from its sequence.
resource "rdsiam_postgres_grant" "sequences" {
  role        = rdsiam_postgres_role.app.name
  database    = var.database
  object_type = "sequence"
  schema      = var.schema
  privileges  = ["USAGE"]
}

data "rdsiam_policy_document" "app" {
  region      = data.rdsiam_cluster.main.region
  account_id  = data.rdsiam_cluster.main.account_id
  resource_id = data.rdsiam_cluster.main.resource_id
  db_users    = [rdsiam_postgres_user.app.name]
  sid         = "AppConnect"
}
