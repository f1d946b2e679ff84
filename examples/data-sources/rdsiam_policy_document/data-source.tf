data "rdsiam_policy_document" "app" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = aws_rds_cluster.main.cluster_resource_id # "cluster-…", not the cluster name
  db_users    = ["app_service"]
}

resource "aws_iam_policy" "app_db_connect" {
  name   = "app-db-connect"
  policy = data.rdsiam_policy_document.app.json
}
