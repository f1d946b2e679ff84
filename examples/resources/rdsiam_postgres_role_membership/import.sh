# The import ID is role|member; only %, | , and control characters are percent-encoded.
terraform import rdsiam_postgres_role_membership.reporting 'app_readonly|reporting_service'
terraform import rdsiam_postgres_role_membership.lead 'app_readonly|mario.rossi@example.com'
