variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "AWS API endpoint override, e.g. http://127.0.0.1:5000 for moto. Leave null for AWS."
  type        = string
  default     = null
}

variable "cluster_identifier" {
  description = "The Aurora cluster's identifier (its name)."
  type        = string
  default     = "demo-aurora"
}

variable "db_host" {
  description = "Host the provider connects to: the cluster endpoint (or a tunnel)."
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
  description = "The role the provider logs in as."
  type        = string
  default     = "dbadmin"
}

variable "db_admin_password" {
  description = "Its password."
  type        = string
  sensitive   = true
}

variable "database" {
  description = "The application's database."
  type        = string
  default     = "shop"
}

variable "schema" {
  description = "The schema the application's tables live in."
  type        = string
  default     = "sales"
}

variable "writable_tables" {
  description = "Tables of the schema the application may also write."
  type        = list(string)
  default     = ["orders"]
}

variable "app_role" {
  description = "The NOLOGIN group role that holds the workload's privileges."
  type        = string
  default     = "orders_rw"
}

variable "app_user" {
  description = "The PostgreSQL user the workload logs in as with IAM tokens."
  type        = string
  default     = "orders_app"
}
