# AWS side of examples/aurora-iam: for each workload, an IAM policy allowing rds-db:connect as
# its database user, an IAM role that EKS Pod Identity can hand to its pods, and the
# association with its Kubernetes service account.
#
# Takes the `workloads` output of the database side (../) as its `workloads` variable.
# Not applied in CI: hashicorp/aws cannot be installed there (no registry access).

terraform {
  required_version = ">= 1.10"

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

# EKS Pod Identity: the EKS auth agent assumes the role on the pod's behalf.
data "aws_iam_policy_document" "pod_identity_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "db_connect" {
  for_each = var.workloads

  name        = "${each.key}-db-connect"
  description = "rds-db:connect as PostgreSQL user ${each.value.db_user}"
  policy      = each.value.policy_json
}

resource "aws_iam_role" "workload" {
  for_each = var.workloads

  name               = "${each.key}-workload"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust.json
}

resource "aws_iam_role_policy_attachment" "db_connect" {
  for_each = var.workloads

  role       = aws_iam_role.workload[each.key].name
  policy_arn = aws_iam_policy.db_connect[each.key].arn
}

resource "aws_eks_pod_identity_association" "workload" {
  for_each = var.workloads

  cluster_name    = var.eks_cluster_name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = aws_iam_role.workload[each.key].arn
}
