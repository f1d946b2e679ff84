# Terraform >= 1.8: the rds-db:connect ARN of one database user, computed without credentials
# or provider configuration.
terraform {
  required_version = ">= 1.8"
}

output "app_db_user_arn" {
  value = provider::rdsiam::dbuser_arn("eu-west-1", "123456789012", "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2", "app_service")
  # => "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2/app_service"
}

# `*`, `?` and `$` in a user name are escaped so IAM matches the name literally.
output "escaped_arn" {
  value = provider::rdsiam::dbuser_arn("us-gov-west-1", "123456789012", "db-ABCDEFGHIJKLMN", "a*b")
  # => "arn:aws-us-gov:rds-db:us-gov-west-1:123456789012:dbuser:db-ABCDEFGHIJKLMN/a${*}b"
}
