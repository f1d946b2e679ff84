output "cluster_resource_id" {
  description = "cluster-…: what rds-db:connect ARNs name."
  value       = aws_rds_cluster.this.cluster_resource_id
}

output "cluster_endpoint" {
  value = aws_rds_cluster.this.endpoint
}

output "cluster_port" {
  value = aws_rds_cluster.this.port
}

output "account_id" {
  value = data.aws_caller_identity.current.account_id
}

output "master_username" {
  value = aws_rds_cluster.this.master_username
}
