# Quickstart: the rds-db:connect policy for two database users of an Aurora cluster.
# Needs no AWS credentials: everything is computed from the cluster's resource id.

terraform {
  required_providers {
    rdsiam = {
      source = "rdsiam/rdsiam"
    }
  }
}

provider "rdsiam" {}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "account_id" {
  type    = string
  default = "123456789012"
}

# The cluster's `cluster_resource_id` (e.g. from aws_rds_cluster.this.cluster_resource_id),
# not its name.
variable "cluster_resource_id" {
  type    = string
  default = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2"
}

data "rdsiam_policy_document" "app" {
  region      = var.region
  account_id  = var.account_id
  resource_id = var.cluster_resource_id
  db_users    = ["app_service", "mario.rossi@example.com"]
  sid         = "AppConnect"
}

output "policy_json" {
  description = "Feed this to aws_iam_policy.policy."
  value       = data.rdsiam_policy_document.app.json
}

output "arns" {
  value = data.rdsiam_policy_document.app.arns
}

# Provider-defined functions need Terraform >= 1.8.
output "reporting_arn" {
  value = provider::rdsiam::dbuser_arn(var.region, var.account_id, var.cluster_resource_id, "reporting")
}
