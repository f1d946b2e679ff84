# role|database|schema|owner|object_type[|privileges]
# (schema empty for database-wide; `%` and `|` inside a name written %25 and %7C)
terraform import rdsiam_postgres_default_privileges.tables 'app_service|myapp|public|app_owner|tables|SELECT,INSERT,UPDATE,DELETE'
terraform import rdsiam_postgres_default_privileges.functions 'app_service|myapp||app_owner|functions'
