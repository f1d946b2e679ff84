# An IAM auth token, identical to `aws rds generate-db-auth-token`.
#
# The token is stored in the plan and state files (marked sensitive). With Terraform 1.10 or
# later use the ephemeral resource of the same name instead, which never is.
data "rdsiam_cluster" "main" {
  cluster_identifier = "app-aurora"
}

data "rdsiam_auth_token" "app" {
  hostname   = data.rdsiam_cluster.main.endpoint
  port       = data.rdsiam_cluster.main.port
  username   = "app_service" # must be a member of rds_iam
  expires_in = 900           # seconds, 1 to 900
}

output "token_expires_at" {
  value = data.rdsiam_auth_token.app.expires_at
}

output "database_url" {
  value     = "postgresql://app_service:${urlencode(data.rdsiam_auth_token.app.token)}@${data.rdsiam_cluster.main.endpoint}:${data.rdsiam_cluster.main.port}/myapp?sslmode=verify-full"
  sensitive = true
}
