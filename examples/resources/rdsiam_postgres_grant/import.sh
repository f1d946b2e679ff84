# role|database|object_type|schema|objects[|privileges[|options]]
# (lists comma-separated; `%`, `|` and `,` inside a name written %25, %7C and %2C)

# CONNECT on the database myapp (schema and objects empty).
terraform import rdsiam_postgres_grant.connect 'app_service|myapp|database|||CONNECT'

# The listed privileges on every table of schema public (objects empty).
terraform import rdsiam_postgres_grant.tables 'app_service|myapp|table|public||SELECT,INSERT,UPDATE,DELETE'

# Two named tables, authoritative.
terraform import rdsiam_postgres_grant.reporting 'mario.rossi@example.com|myapp|table|reporting|orders,invoices|SELECT|authoritative'
