variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "aws_endpoint" {
  description = "AWS API endpoint override (e.g. moto's http://127.0.0.1:5000); null for AWS."
  type        = string
  default     = null
}

variable "cluster_identifier" {
  description = "The Aurora PostgreSQL cluster's identifier (its name)."
  type        = string
}

variable "db_host" {
  description = "Where the provider connects to manage users: the cluster endpoint, or a tunnel."
  type        = string
}

variable "db_port" {
  description = "Port the provider connects to."
  type        = number
  default     = 5432
}

variable "db_ca_cert" {
  description = "CA bundle the server certificate is checked against (path or PEM). Leave unset for RDS: the provider has the Amazon RDS CA bundle built in."
  type        = string
  default     = null
}

variable "db_admin_username" {
  description = "The role the provider logs in as (the master user, or a CREATEROLE role holding rds_iam WITH ADMIN OPTION)."
  type        = string
  default     = "postgres"
}

variable "db_admin_password" {
  description = "Its password; leave null to log in with an IAM token instead."
  type        = string
  default     = null
  sensitive   = true
}

variable "workloads" {
  description = "One entry per workload: its database user, grants and Kubernetes service account."
  type = map(object({
    db_user          = string
    database         = string
    schema           = string
    read_tables      = optional(list(string)) # null: every table of the schema
    write_tables     = optional(list(string), [])
    connection_limit = optional(number, -1)
    namespace        = string
    service_account  = string
  }))
  default = {
    orders-api = {
      db_user          = "orders_api"
      database         = "shop"
      schema           = "sales"
      write_tables     = ["orders"]
      connection_limit = 50
      namespace        = "shop"
      service_account  = "orders-api"
    }
    reporting = {
      db_user         = "reporting"
      database        = "shop"
      schema          = "sales"
      read_tables     = ["orders", "customers"]
      namespace       = "analytics"
      service_account = "reporting"
    }
  }
}

variable "smoke_test" {
  description = "After creating a user, log in as it with an IAM token and run smoke_test_command."
  type        = bool
  default     = false
}

variable "smoke_test_command" {
  description = "Run with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (the token), PGSSLMODE, PGSSLROOTCERT set."
  type        = string
  default     = "psql -X -c 'SELECT current_user, inet_server_addr()'"
}
