output "db_user" {
  description = "The PostgreSQL user."
  value       = rdsiam_postgres_user.this.name
}

output "db_user_arn" {
  description = "The rds-db:connect resource ARN for the user."
  value       = data.rdsiam_policy_document.connect.arns[0]
}

output "policy_json" {
  description = "IAM policy allowing rds-db:connect as this user: attach it to the workload's role."
  value       = data.rdsiam_policy_document.connect.json
}
