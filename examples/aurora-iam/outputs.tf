output "cluster_resource_id" {
  value = data.rdsiam_cluster.main.resource_id
}

# Input for ./aws-side (its `workloads` variable).
output "workloads" {
  description = "Per workload: the database user, its rds-db:connect ARN and policy, and its Kubernetes service account."
  value = {
    for name, w in var.workloads : name => {
      db_user         = module.workload[name].db_user
      db_user_arn     = module.workload[name].db_user_arn
      policy_json     = module.workload[name].policy_json
      namespace       = w.namespace
      service_account = w.service_account
    }
  }
}
