include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "../../../modules/aurora"
}

inputs = {
  cluster_identifier   = "shop-dev"
  instance_class       = "db.t4g.medium"
  db_subnet_group_name = "shop-dev-db"
  security_group_ids   = ["sg-0123456789abcdef0"]
  deletion_protection  = false
}
