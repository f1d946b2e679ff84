# The import ID is the role name, exactly as stored in PostgreSQL.
terraform import rdsiam_postgres_user.app app_service
terraform import rdsiam_postgres_user.analyst 'mario.rossi@example.com'
