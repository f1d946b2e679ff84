output "app_user" {
  value = rdsiam_postgres_user.app.name
}

output "cluster_endpoint" {
  value = data.rdsiam_cluster.main.endpoint
}

output "cluster_resource_id" {
  value = data.rdsiam_cluster.main.resource_id
}

output "db_user_arn" {
  description = "The one resource the workload's IAM policy must allow rds-db:connect on."
  value       = data.rdsiam_policy_document.app.arns[0]
}

output "policy_json" {
  description = "Attach this to the workload's IAM role (aws_iam_policy.policy)."
  value       = data.rdsiam_policy_document.app.json
}

output "connect_command" {
  description = "What the workload runs (with its own AWS credentials) to log in."
  value = join(" ", [
    "PGPASSWORD=\"$(aws rds generate-db-auth-token --region ${data.rdsiam_cluster.main.region}",
    "--hostname ${data.rdsiam_cluster.main.endpoint} --port ${data.rdsiam_cluster.main.port}",
    "--username ${rdsiam_postgres_user.app.name})\"",
    "psql \"host=${data.rdsiam_cluster.main.endpoint} port=${data.rdsiam_cluster.main.port}",
    "dbname=${var.database} user=${rdsiam_postgres_user.app.name}",
    "sslmode=verify-full sslrootcert=global-bundle.pem\"",
  ])
}
