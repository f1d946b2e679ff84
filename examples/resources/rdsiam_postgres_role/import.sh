# The import ID is the role name, exactly as stored in PostgreSQL.
terraform import rdsiam_postgres_role.readonly app_readonly
