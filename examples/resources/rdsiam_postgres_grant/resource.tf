# What an application user typically needs: connect to the database, use the schema, read and
# write its tables and use its sequences. Each resource manages only the privileges it lists.

resource "rdsiam_postgres_grant" "connect" {
  role        = "app_service"
  database    = "myapp"
  object_type = "database"
  privileges  = ["CONNECT"]
}

resource "rdsiam_postgres_grant" "usage" {
  role        = "app_service"
  database    = "myapp"
  object_type = "schema"
  schema      = "public"
  privileges  = ["USAGE"]
}

# No `objects`: every table in the schema (GRANT … ON ALL TABLES IN SCHEMA public). Tables
# created later show as drift; rdsiam_postgres_default_privileges covers them up front.
resource "rdsiam_postgres_grant" "tables" {
  role        = "app_service"
  database    = "myapp"
  object_type = "table"
  schema      = "public"
  privileges  = ["SELECT", "INSERT", "UPDATE", "DELETE"]
}

resource "rdsiam_postgres_grant" "sequences" {
  role        = "app_service"
  database    = "myapp"
  object_type = "sequence"
  schema      = "public"
  privileges  = ["USAGE", "SELECT"]
}

# Read-only access to two named tables; `authoritative` also revokes anything else the role
# holds on them (e.g. an INSERT granted by hand).
resource "rdsiam_postgres_grant" "reporting" {
  role          = "mario.rossi@example.com"
  database      = "myapp"
  object_type   = "table"
  schema        = "reporting"
  objects       = ["orders", "invoices"]
  privileges    = ["SELECT"]
  authoritative = true
}
