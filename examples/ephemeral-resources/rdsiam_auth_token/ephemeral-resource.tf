# Terraform >= 1.10: an IAM auth token that exists only while Terraform runs; it is never
# written to a plan or state file.
terraform {
  required_version = ">= 1.10"
}

data "rdsiam_cluster" "main" {
  cluster_identifier = "app-aurora"
}

ephemeral "rdsiam_auth_token" "migrator" {
  hostname = data.rdsiam_cluster.main.endpoint
  port     = data.rdsiam_cluster.main.port
  username = "migrator" # a member of rds_iam
}

# Ephemeral values may be used in provisioners, provider blocks and write-only arguments.
# Here: run the schema migrations with psql whenever their version changes.
variable "schema_version" {
  type    = string
  default = "2024-06-01"
}

resource "terraform_data" "migrations" {
  triggers_replace = [var.schema_version]

  provisioner "local-exec" {
    command = "psql -f migrations/${var.schema_version}.sql"
    environment = {
      PGHOST        = data.rdsiam_cluster.main.endpoint
      PGPORT        = tostring(data.rdsiam_cluster.main.port)
      PGUSER        = "migrator"
      PGDATABASE    = "myapp"
      PGPASSWORD    = ephemeral.rdsiam_auth_token.migrator.token
      PGSSLMODE     = "verify-full"
      PGSSLROOTCERT = "/etc/ssl/certs/rds-global-bundle.pem"
    }
  }
}

# Or configure another provider with it, e.g. cyrilgdn/postgresql:
#
#   provider "postgresql" {
#     host     = data.rdsiam_cluster.main.endpoint
#     username = "migrator"
#     password = ephemeral.rdsiam_auth_token.migrator.token
#     sslmode  = "require"
#   }
