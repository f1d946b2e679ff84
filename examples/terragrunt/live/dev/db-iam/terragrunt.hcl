include "root" {
  path   = find_in_parent_folders("root.hcl")
  expose = true
}

terraform {
  # The module of examples/aurora-iam; `//` so Terragrunt copies the whole example.
  source = "../../../../aurora-iam//modules/db-iam-user"
}

dependency "aurora" {
  config_path = "../aurora"

  # Lets `validate` and `plan` of this unit run before the cluster exists.
  mock_outputs = {
    cluster_resource_id = "cluster-MOCK0000000000000000000000"
    cluster_endpoint    = "shop-dev.cluster-mock00000000.eu-west-1.rds.amazonaws.com"
    cluster_port        = 5432
    account_id          = "123456789012"
    master_username     = "postgres"
  }
  mock_outputs_allowed_terraform_commands = ["validate", "plan"]
}

# The provider logs in to the cluster as its master user with an IAM token (no password in
# the configuration). The token is minted with the AWS credentials Terragrunt runs with.
generate "provider" {
  path      = "provider.tf"
  if_exists = "overwrite_terragrunt"
  contents  = <<-HCL
    provider "rdsiam" {
      aws {
        region = "${include.root.locals.region}"
      }
      postgres {
        host        = "${dependency.aurora.outputs.cluster_endpoint}"
        port        = ${dependency.aurora.outputs.cluster_port}
        username    = "${dependency.aurora.outputs.master_username}"
        iam_auth    = true
        # TLS: verify-full against the RDS CA bundle built into the provider (the default).
      }
    }
  HCL
}

inputs = {
  db_user          = "orders_api"
  database         = "shop"
  schema           = "sales"
  write_tables     = ["orders"]
  connection_limit = 20

  account_id          = dependency.aurora.outputs.account_id
  cluster_resource_id = dependency.aurora.outputs.cluster_resource_id
  cluster_endpoint    = dependency.aurora.outputs.cluster_endpoint
  cluster_port        = dependency.aurora.outputs.cluster_port
}
