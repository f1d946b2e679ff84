# Look an Aurora PostgreSQL cluster up by name for its resource id (what IAM policies need)
# and its endpoints. Needs rds:DescribeDBClusters; warns when IAM authentication is off.
data "rdsiam_cluster" "main" {
  cluster_identifier = "app-aurora"
  region             = "eu-west-1" # optional: defaults to the provider's region
}

data "rdsiam_policy_document" "app" {
  region      = data.rdsiam_cluster.main.region
  account_id  = data.rdsiam_cluster.main.account_id
  resource_id = data.rdsiam_cluster.main.resource_id # cluster-…
  db_users    = ["app_service"]
}

output "writer_endpoint" {
  value = "${data.rdsiam_cluster.main.endpoint}:${data.rdsiam_cluster.main.port}"
}

output "reader_endpoint" {
  value = data.rdsiam_cluster.main.reader_endpoint
}
