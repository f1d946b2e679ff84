output "role_arns" {
  description = "The IAM role each workload's pods get."
  value       = { for name, role in aws_iam_role.workload : name => role.arn }
}
