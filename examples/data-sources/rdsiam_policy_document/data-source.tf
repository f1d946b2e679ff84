# The rds-db:connect policy for two database users of an Aurora cluster, computed offline:
# no AWS credentials are needed to plan or apply it.
data "rdsiam_policy_document" "app" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2" # the cluster_resource_id, not the cluster name
  db_users    = ["app_service", "mario.rossi@example.com"]
  sid         = "AppConnect"
}

# The same from a lookup of the cluster by name (needs AWS credentials at read time).
data "rdsiam_cluster" "main" {
  cluster_identifier = "app-aurora"
}

data "rdsiam_policy_document" "readers" {
  region      = data.rdsiam_cluster.main.region
  account_id  = data.rdsiam_cluster.main.account_id
  resource_id = data.rdsiam_cluster.main.resource_id
  db_users    = ["reporting"]
}

# Attach the JSON with the AWS provider, e.g.:
#
#   resource "aws_iam_policy" "app_db_connect" {
#     name   = "app-db-connect"
#     policy = data.rdsiam_policy_document.app.json
#   }
output "app_policy_json" {
  value = data.rdsiam_policy_document.app.json
}

output "app_arns" {
  value = data.rdsiam_policy_document.app.arns
  # ["arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2/app_service", …]
}
