# A minimal Aurora PostgreSQL cluster with IAM database authentication, standing in for
# whatever module your organisation uses (e.g. terraform-aws-modules/rds-aurora/aws): what
# matters to examples/aurora-iam is its cluster_resource_id, endpoint and port.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

resource "aws_rds_cluster" "this" {
  cluster_identifier                  = var.cluster_identifier
  engine                              = "aurora-postgresql"
  engine_version                      = var.engine_version
  master_username                     = var.master_username
  manage_master_user_password         = true
  iam_database_authentication_enabled = true
  db_subnet_group_name                = var.db_subnet_group_name
  vpc_security_group_ids              = var.security_group_ids
  storage_encrypted                   = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.deletion_protection
}

resource "aws_rds_cluster_instance" "writer" {
  identifier         = "${var.cluster_identifier}-1"
  cluster_identifier = aws_rds_cluster.this.id
  engine             = aws_rds_cluster.this.engine
  engine_version     = aws_rds_cluster.this.engine_version
  instance_class     = var.instance_class
}
