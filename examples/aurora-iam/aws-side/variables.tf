variable "region" {
  description = "AWS region of the EKS cluster."
  type        = string
  default     = "eu-west-1"
}

variable "eks_cluster_name" {
  description = "The EKS cluster the workloads run in (with the EKS Pod Identity Agent add-on)."
  type        = string
}

variable "workloads" {
  description = "The `workloads` output of the database side (terraform output -json workloads)."
  type = map(object({
    db_user         = string
    db_user_arn     = string
    policy_json     = string
    namespace       = string
    service_account = string
  }))
}
