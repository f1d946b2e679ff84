# An application user that logs in with IAM tokens: CREATE ROLE "app_service" LOGIN and
# GRANT rds_iam TO "app_service", in one transaction.
resource "rdsiam_postgres_user" "app" {
  name = "app_service"
}

# A human user named after the IAM identity, with settings and extra role memberships.
resource "rdsiam_postgres_user" "analyst" {
  name              = "mario.rossi@example.com" # kept exactly: case, dots and @ included
  roles             = ["readonly"]              # additive: memberships granted elsewhere stay
  connection_limit  = 5
  search_path       = ["reporting", "public"]
  statement_timeout = "5min"

  # On destroy, hand whatever the user created over to app_owner, then drop what is left
  # (privileges included) so DROP ROLE succeeds.
  reassign_owned_to = "app_owner"
  drop_owned        = true
}

# Let the users connect: one rds-db:connect policy covering both.
data "rdsiam_policy_document" "connect" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2" # aws_rds_cluster.main.cluster_resource_id
  db_users    = [rdsiam_postgres_user.app.name, rdsiam_postgres_user.analyst.name]
}
