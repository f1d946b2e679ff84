variable "db_user" {
  description = "PostgreSQL user the workload logs in as (case-sensitive, kept exactly)."
  type        = string
}

variable "group_role" {
  description = "The NOLOGIN group role that holds the grants (default: \"<db_user>_access\")."
  type        = string
  default     = null
}

variable "database" {
  description = "The database the workload uses."
  type        = string
}

variable "schema" {
  description = "The schema its tables live in."
  type        = string
}

variable "read_tables" {
  description = "Tables it may SELECT from; null means every table of the schema."
  type        = list(string)
  default     = null
}

variable "write_tables" {
  description = "Tables it may also INSERT into and UPDATE (with USAGE on the schema's sequences)."
  type        = list(string)
  default     = []
}

variable "connection_limit" {
  description = "Most concurrent connections of the user; -1 means no limit."
  type        = number
  default     = -1
}

# Where the cluster is: usually outputs of the module or data source that owns the cluster.
variable "region" {
  description = "AWS region of the cluster."
  type        = string
}

variable "account_id" {
  description = "AWS account of the cluster."
  type        = string
}

variable "cluster_resource_id" {
  description = "The cluster's resource id (cluster-…), as in aws_rds_cluster.cluster_resource_id: what rds-db:connect ARNs name."
  type        = string
}

variable "cluster_endpoint" {
  description = "The cluster endpoint workloads connect to (the token is signed for it)."
  type        = string
}

variable "cluster_port" {
  description = "The cluster's port."
  type        = number
  default     = 5432
}

variable "smoke_test" {
  description = "After creating the user, log in as it with an IAM token and run smoke_test_command."
  type        = bool
  default     = false
}

variable "smoke_test_command" {
  description = "Run with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (the token), PGSSLMODE and PGSSLROOTCERT set."
  type        = string
  default     = "psql -X -c 'SELECT current_user, inet_server_addr()'"
}

variable "smoke_test_ca_cert" {
  description = "CA bundle file for the smoke test's verify-full (for RDS: AWS's global-bundle.pem)."
  type        = string
  default     = "global-bundle.pem"
}
