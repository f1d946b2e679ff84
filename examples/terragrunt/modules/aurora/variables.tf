variable "region" {
  type = string
}

variable "cluster_identifier" {
  type = string
}

variable "engine_version" {
  type    = string
  default = "16.4"
}

variable "instance_class" {
  type    = string
  default = "db.t4g.medium"
}

variable "master_username" {
  type    = string
  default = "postgres"
}

variable "db_subnet_group_name" {
  type = string
}

variable "security_group_ids" {
  type = list(string)
}

variable "deletion_protection" {
  type    = bool
  default = true
}
