# Tables and sequences that app_owner (the role running the migrations) creates in schema public
# from now on are usable by app_service without another grant.
resource "rdsiam_postgres_default_privileges" "tables" {
  role        = "app_service"
  database    = "myapp"
  schema      = "public"
  owner       = "app_owner"
  object_type = "tables"
  privileges  = ["SELECT", "INSERT", "UPDATE", "DELETE"]
}

resource "rdsiam_postgres_default_privileges" "sequences" {
  role        = "app_service"
  database    = "myapp"
  schema      = "public"
  owner       = "app_owner"
  object_type = "sequences"
  privileges  = ["USAGE", "SELECT"]
}

# Database-wide (no schema): functions app_owner creates anywhere in myapp.
resource "rdsiam_postgres_default_privileges" "functions" {
  role        = "app_service"
  database    = "myapp"
  owner       = "app_owner"
  object_type = "functions"
  privileges  = ["EXECUTE"]
}
