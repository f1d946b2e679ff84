# Aurora PostgreSQL IAM database authentication for several workloads, database side.
#
#   data "rdsiam_cluster"            the cluster's resource id, endpoint and IAM flag
#   module "workload" (per entry)    PostgreSQL user in rds_iam + grants + rds-db:connect policy,
#                                    optionally a smoke test logging in with an IAM token
#
# The AWS side (IAM policy, role for EKS Pod Identity, association) is in ./aws-side and takes
# the `workloads` output of this configuration as input: see README.md for the order.

terraform {
  required_version = ">= 1.10"

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

  postgres {
    # Not data.rdsiam_cluster.main.endpoint: a provider cannot be configured from its own
    # data sources. Set it to the cluster endpoint (or a tunnel to it).
    host        = var.db_host
    port        = var.db_port
    database    = "postgres"
    username    = var.db_admin_username
    password    = var.db_admin_password
    iam_auth    = var.db_admin_password == null # no password: log in with an IAM token
    sslrootcert = var.db_ca_cert                # null: the built-in RDS CA bundle
  }
}

data "rdsiam_cluster" "main" {
  cluster_identifier = var.cluster_identifier
}

module "workload" {
  source   = "./modules/db-iam-user"
  for_each = var.workloads

  db_user          = each.value.db_user
  database         = each.value.database
  schema           = each.value.schema
  read_tables      = each.value.read_tables
  write_tables     = each.value.write_tables
  connection_limit = each.value.connection_limit

  region              = data.rdsiam_cluster.main.region
  account_id          = data.rdsiam_cluster.main.account_id
  cluster_resource_id = data.rdsiam_cluster.main.resource_id
  cluster_endpoint    = data.rdsiam_cluster.main.endpoint
  cluster_port        = data.rdsiam_cluster.main.port

  smoke_test         = var.smoke_test
  smoke_test_command = var.smoke_test_command
  smoke_test_ca_cert = var.db_ca_cert
}

check "iam_auth_enabled" {
  assert {
    condition     = data.rdsiam_cluster.main.iam_database_authentication_enabled
    error_message = "IAM database authentication is off on ${var.cluster_identifier}: tokens will be refused."
  }
}
