terraform {
  required_providers {
    rdsiam = {
      source = "rdsiam/rdsiam"
    }
  }
}

# No settings are needed for policy documents and ARNs: they are computed offline.
provider "rdsiam" {}
