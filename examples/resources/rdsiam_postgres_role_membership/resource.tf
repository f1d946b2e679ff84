resource "rdsiam_postgres_role" "readonly" {
  name = "app_readonly"
}

resource "rdsiam_postgres_user" "reporting" {
  name = "reporting_service"
}

# GRANT "app_readonly" TO "reporting_service" WITH INHERIT FALSE (PostgreSQL 16+): the member
# must SET ROLE app_readonly to use the group's privileges.
resource "rdsiam_postgres_role_membership" "reporting" {
  role    = rdsiam_postgres_role.readonly.name
  member  = rdsiam_postgres_user.reporting.name
  inherit = false
}

# A team lead who may grant the group to others.
resource "rdsiam_postgres_role_membership" "lead" {
  role         = rdsiam_postgres_role.readonly.name
  member       = "mario.rossi@example.com"
  admin_option = true
}
