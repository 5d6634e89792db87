# One customer managed key for the data at rest of this stack: the DynamoDB table or the
# PostgreSQL storage, snapshots and Performance Insights, the log groups, the Secrets Manager
# secrets and ElastiCache.
resource "aws_kms_key" "this" {
  description             = "${var.name}: DynamoDB or RDS, CloudWatch Logs, Secrets Manager, ElastiCache"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write use is limited to the account's IAM principals and to CloudWatch Logs for this stack's log groups.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (the only form KMS accepts in a key policy).
  #checkov:skip=CKV_AWS_109:The account-root statement is AWS's default key policy: it delegates key administration to IAM in this account and prevents an unmanageable key.
  # Key administration and use stay with the account's IAM policies (no wildcard principal).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts this stack's log groups only.
  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/${var.name}",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:aws-waf-logs-${var.name}",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/rds/instance/${var.name}-postgres/*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/rds/cluster/${var.name}-postgres/*",
      ]
    }
  }
}
