# Terraform >= 1.8
output "app_db_user_arn" {
  value = provider::rdsiam::dbuser_arn("eu-west-1", "123456789012", "cluster-ABC123", "app_service")
  # => arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/app_service
}
