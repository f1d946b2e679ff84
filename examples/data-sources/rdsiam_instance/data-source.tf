# Look an RDS for PostgreSQL instance up by name for its resource id (db-…) and endpoint.
# For an instance of an Aurora cluster use rdsiam_cluster: IAM policies name the cluster.
data "rdsiam_instance" "legacy" {
  db_instance_identifier = "legacy-postgres"
}

data "rdsiam_policy_document" "legacy" {
  region      = data.rdsiam_instance.legacy.region
  account_id  = data.rdsiam_instance.legacy.account_id
  resource_id = data.rdsiam_instance.legacy.resource_id # db-…
  db_users    = ["batch_jobs"]
}

output "iam_auth_enabled" {
  value = data.rdsiam_instance.legacy.iam_database_authentication_enabled
}
