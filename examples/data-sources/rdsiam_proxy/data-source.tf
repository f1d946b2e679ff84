# Clients connecting through an RDS Proxy need rds-db:connect on the *proxy's* resource id
# (prx-…), not the database's.
data "rdsiam_proxy" "app" {
  db_proxy_name = "app-proxy"
}

data "rdsiam_policy_document" "via_proxy" {
  region      = data.rdsiam_proxy.app.region
  account_id  = data.rdsiam_proxy.app.account_id
  resource_id = data.rdsiam_proxy.app.resource_id # prx-…
  db_users    = ["app_service"]
}

output "proxy_endpoint" {
  value = data.rdsiam_proxy.app.endpoint
}
