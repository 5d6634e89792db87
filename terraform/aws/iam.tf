data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- Task role: what the service itself may do -------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  count = local.store_dynamodb ? 1 : 0

  # Exactly the calls the DynamoDB repository makes (links, API keys, expiry sweeps), on this
  # table and its expiry index only. No CreateTable: storage.dynamodb.create_table stays false.
  statement {
    sid = "LinksTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:DescribeTable",
    ]
    resources = [
      aws_dynamodb_table.links[0].arn,
      "${aws_dynamodb_table.links[0].arn}/index/expiry-index",
      "${aws_dynamodb_table.links[0].arn}/index/owner-index",
      "${aws_dynamodb_table.links[0].arn}/index/health-index",
      "${aws_dynamodb_table.links[0].arn}/index/broken-index",
    ]
  }

  # The table is encrypted with the stack's CMK: DynamoDB uses it on the caller's behalf.
  statement {
    sid       = "TableKeyViaDynamoDB"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }
}

# With store = "postgres" the service needs no AWS API at all: it logs in with the password in
# its storage.postgres.url secret, and the role keeps no policy.
resource "aws_iam_role_policy" "task" {
  count = local.store_dynamodb ? 1 : 0

  name   = "dynamodb-table"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task[0].json
}

moved {
  from = aws_iam_role_policy.task
  to   = aws_iam_role_policy.task[0]
}

# --- Execution role: what ECS needs to start the task -------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [var.ecr_repository_arn]
    content {
      sid       = "PullImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [var.ecr_repository_arn]
    content {
      # GetAuthorizationToken has no resource-level permissions.
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service.arn}:log-stream:*"]
  }

  # The secrets of the task definition's `secrets` block, and nothing else.
  dynamic "statement" {
    for_each = local.has_secrets ? [1] : []
    content {
      sid       = "ReadServiceSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secret_arns
    }
  }

  dynamic "statement" {
    for_each = local.has_secrets ? [1] : []
    content {
      sid       = "DecryptServiceSecrets"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-task"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# --- Enhanced Monitoring of PostgreSQL: RDS publishes the instances' OS metrics ------------------

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  count = local.store_postgres ? 1 : 0

  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

# AWS's policy for exactly this role: write to the RDSOSMetrics log group.
resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  count = local.store_postgres ? 1 : 0

  role       = aws_iam_role.rds_monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
