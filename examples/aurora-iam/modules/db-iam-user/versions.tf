terraform {
  # Ephemeral resources need Terraform 1.10.
  required_version = ">= 1.10"

  required_providers {
    rdsiam = {
      source = "rdsiam/rdsiam"
    }
  }
}
