terraform {
  required_providers {
    rdsiam = {
      source = "rdsiam/rdsiam"
    }
  }
}

variable "db_endpoint" {
  description = "Writer endpoint of the Aurora PostgreSQL cluster (aws_rds_cluster.main.endpoint)."
  type        = string
  default     = "app-aurora.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
}

# Policy documents and ARNs need no settings at all. The `aws` block is used by the RDS lookups
# and IAM tokens; the `postgres` block by the rdsiam_postgres_* resources. Nothing connects to
# AWS or PostgreSQL until something needs it.
provider "rdsiam" {
  aws {
    region  = "eu-west-1" # else AWS_REGION, AWS_DEFAULT_REGION, the profile, instance metadata
    profile = "platform"  # else AWS_PROFILE, then the default credential chain

    # Optional: work as another role (the credentials above are the source credentials).
    assume_role {
      role_arn     = "arn:aws:iam::123456789012:role/db-admin"
      session_name = "terraform-rdsiam"
      duration     = "1h"
    }
  }

  postgres {
    host     = var.db_endpoint # PGHOST
    port     = 5432            # PGPORT
    database = "postgres"      # PGDATABASE
    username = "postgres"      # PGUSER: the master user, or a CREATEROLE role holding rds_iam WITH ADMIN OPTION

    # A fresh IAM token, signed with the `aws` credentials, for every new connection.
    iam_auth = true

    # TLS needs nothing here: by default (verify-full) the server certificate and host name
    # are checked against the system's CAs and the Amazon RDS CA bundle built into the
    # provider. For a private CA: sslrootcert = "/path/ca.pem" (a path or the PEM text).
  }
}
