include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "../../../modules/aurora"
}

inputs = {
  cluster_identifier   = "shop-prod"
  instance_class       = "db.r7g.large"
  db_subnet_group_name = "shop-prod-db"
  security_group_ids   = ["sg-0123456789abcdef0"]
  deletion_protection  = true
}
