# The recommended setup: a NOLOGIN group role holds the privileges, IAM users are its members.
resource "rdsiam_postgres_role" "readonly" {
  name = "app_readonly"

  # On destroy, drop the group's privileges (and anything it owns) so DROP ROLE succeeds.
  drop_owned = true
}

resource "rdsiam_postgres_grant" "connect" {
  role        = rdsiam_postgres_role.readonly.name
  database    = "appdb"
  object_type = "database"
  privileges  = ["CONNECT"]
}

resource "rdsiam_postgres_grant" "select" {
  role        = rdsiam_postgres_role.readonly.name
  database    = "appdb"
  object_type = "table"
  schema      = "public"
  privileges  = ["SELECT"]
}

# Members: through the user's roles, or through rdsiam_postgres_role_membership.
resource "rdsiam_postgres_user" "analyst" {
  name  = "mario.rossi@example.com"
  roles = [rdsiam_postgres_role.readonly.name]
}
