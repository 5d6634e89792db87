# PostgreSQL as the store (store = "postgres"): RDS for PostgreSQL (one Multi-AZ instance) or
# Aurora PostgreSQL (a cluster of two instances in different zones), in the private subnets,
# reachable from the tasks only, TLS enforced by the server, KMS at rest, automated backups
# with point-in-time recovery. The service applies its schema migrations itself at start
# (README "PostgreSQL"), so nothing here runs SQL.
#
# The service connects as the master user: RDS creates postgres_database owned by it, which is
# what the first start's migrations need (CREATE in the database's schema). RDS's own
# managed master password (manage_master_user_password) is not used: its secret is JSON that
# RDS rotates on its own schedule, while the service needs one postgres:// URL that every task
# reads alike. The password is generated here and kept, inside that URL, in Secrets Manager.

locals {
  postgres_major = split(".", var.postgres_engine_version)[0]

  # Identifier of the instance (rds) or of the cluster (aurora); its log groups derive from it.
  postgres_identifier = "${var.name}-postgres"

  # Where RDS publishes the exported logs; created below so that they are KMS-encrypted and
  # expire (RDS would create them itself without either).
  postgres_log_groups = local.postgres_rds ? [
    "/aws/rds/instance/${local.postgres_identifier}/postgresql",
    "/aws/rds/instance/${local.postgres_identifier}/upgrade",
    ] : local.postgres_aurora ? [
    "/aws/rds/cluster/${local.postgres_identifier}/postgresql",
  ] : []

  # The writer's host name: the instance's address, or the cluster endpoint, which follows the
  # writer through a failover. Both are names in the server certificate (verify-full).
  postgres_host = (
    local.postgres_rds ? aws_db_instance.postgres[0].address :
    local.postgres_aurora ? aws_rds_cluster.postgres[0].endpoint : null
  )
  postgres_port = 5432

  # The CA that signs both kinds' server certificates (the region's bundle holds it and the
  # other current RDS CAs, so a later CA change needs no new bundle).
  postgres_ca_identifier = "rds-ca-rsa2048-g1"

  rds_ca_bundle = local.store_postgres ? trimspace(data.http.rds_ca_bundle[0].response_body) : null
}

# The region's RDS CA bundle (public certificates), read when planning. The container image is
# distroless and trusts only the public web roots; the service takes this PEM text through
# storage.postgres.sslrootcert. (AWS publishes it at this address for the commercial
# partition; GovCloud and China have their own.)
data "http" "rds_ca_bundle" {
  count = local.store_postgres ? 1 : 0

  url = "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem"

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && startswith(trimspace(self.response_body), "-----BEGIN CERTIFICATE-----")
      error_message = "The RDS CA bundle for ${var.region} could not be read as PEM certificates (HTTP ${self.status_code})."
    }
  }
}

# Letters and digits only: the password is embedded in a URL.
resource "random_password" "postgres" {
  count = local.store_postgres ? 1 : 0

  length  = 40
  special = false
}

resource "aws_db_subnet_group" "postgres" {
  count = local.store_postgres ? 1 : 0

  name       = local.postgres_identifier
  subnet_ids = var.private_subnet_ids
}

resource "aws_cloudwatch_log_group" "postgres" {
  for_each = toset(local.postgres_log_groups)

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# --- RDS for PostgreSQL --------------------------------------------------------------------

# rds.force_ssl refuses every connection without TLS. Statement logging stays at DDL (the
# migrations): statements with their parameters (long URLs, key and session hashes) stay out of
# the logs, and Performance Insights shows slow statements without their values.
resource "aws_db_parameter_group" "postgres" {
  count = local.postgres_rds ? 1 : 0

  # The family is in the name: a major upgrade creates the next group before it drops this one.
  name        = "${local.postgres_identifier}${local.postgres_major}"
  family      = "postgres${local.postgres_major}"
  description = "url-shortener PostgreSQL: TLS only, DDL logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "-1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "postgres" {
  #checkov:skip=CKV_AWS_161:The service logs in with the password in storage.postgres.url; it cannot mint the 15-minute IAM authentication tokens, so IAM database authentication would only add an unused way in.
  count = local.postgres_rds ? 1 : 0

  identifier           = local.postgres_identifier
  engine               = "postgres"
  engine_version       = var.postgres_engine_version
  instance_class       = var.postgres_instance_class
  parameter_group_name = aws_db_parameter_group.postgres[0].name
  ca_cert_identifier   = local.postgres_ca_identifier
  port                 = local.postgres_port

  db_name  = var.postgres_database
  username = var.postgres_username
  password = random_password.postgres[0].result

  allocated_storage     = var.postgres_allocated_storage
  max_allocated_storage = var.postgres_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  # A synchronous standby in another zone; RDS fails over to it under the same address.
  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.postgres[0].name
  vpc_security_group_ids = [aws_security_group.postgres[0].id]
  publicly_accessible    = false

  backup_retention_period   = var.postgres_backup_retention_days
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.postgres_identifier}-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = var.postgres_monitoring_interval
  monitoring_role_arn                   = aws_iam_role.rds_monitoring[0].arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  # Changes wait for the maintenance window (a new password is applied at once regardless).
  apply_immediately = false

  lifecycle {
    precondition {
      condition     = var.postgres_max_allocated_storage == 0 || var.postgres_max_allocated_storage > var.postgres_allocated_storage
      error_message = "postgres_max_allocated_storage must be 0 (no storage autoscaling) or above postgres_allocated_storage."
    }
  }

  depends_on = [aws_cloudwatch_log_group.postgres, aws_iam_role_policy_attachment.rds_monitoring]
}

# --- Aurora PostgreSQL ---------------------------------------------------------------------

# The same settings as the RDS parameter group, at cluster level (Aurora reads them there).
resource "aws_rds_cluster_parameter_group" "postgres" {
  count = local.postgres_aurora ? 1 : 0

  name        = "${local.postgres_identifier}${local.postgres_major}"
  family      = "aurora-postgresql${local.postgres_major}"
  description = "url-shortener Aurora PostgreSQL: TLS only, DDL logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "-1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_rds_cluster" "postgres" {
  #checkov:skip=CKV_AWS_162:The service logs in with the password in storage.postgres.url; it cannot mint the 15-minute IAM authentication tokens, so IAM database authentication would only add an unused way in.
  #checkov:skip=CKV2_AWS_8:Automated backups with point-in-time recovery (backup_retention_period) are on; an AWS Backup plan is the account's backup policy, not this stack's.
  count = local.postgres_aurora ? 1 : 0

  cluster_identifier              = local.postgres_identifier
  engine                          = "aurora-postgresql"
  engine_mode                     = "provisioned"
  engine_version                  = var.postgres_engine_version
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.postgres[0].name
  port                            = local.postgres_port

  database_name   = var.postgres_database
  master_username = var.postgres_username
  master_password = random_password.postgres[0].result

  storage_encrypted      = true
  kms_key_id             = aws_kms_key.this.arn
  db_subnet_group_name   = aws_db_subnet_group.postgres[0].name
  vpc_security_group_ids = [aws_security_group.postgres[0].id]

  backup_retention_period         = var.postgres_backup_retention_days
  copy_tags_to_snapshot           = true
  deletion_protection             = var.deletion_protection
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${local.postgres_identifier}-final"
  enabled_cloudwatch_logs_exports = ["postgresql"]

  allow_major_version_upgrade = false
  apply_immediately           = false

  depends_on = [aws_cloudwatch_log_group.postgres]
}

# Two instances in different zones: the writer and a reader Aurora promotes if the writer
# fails (the cluster endpoint follows it). The service uses the writer only.
data "aws_subnet" "private" {
  for_each = local.postgres_aurora ? toset(var.private_subnet_ids) : toset([])

  id = each.value
}

locals {
  postgres_zones = sort(distinct([for s in data.aws_subnet.private : s.availability_zone]))
}

resource "aws_rds_cluster_instance" "postgres" {
  count = local.postgres_aurora ? 2 : 0

  identifier           = "${local.postgres_identifier}-${count.index + 1}"
  cluster_identifier   = aws_rds_cluster.postgres[0].id
  engine               = aws_rds_cluster.postgres[0].engine
  engine_version       = aws_rds_cluster.postgres[0].engine_version
  instance_class       = var.postgres_instance_class
  availability_zone    = local.postgres_zones[count.index % length(local.postgres_zones)]
  db_subnet_group_name = aws_db_subnet_group.postgres[0].name
  publicly_accessible  = false
  ca_cert_identifier   = local.postgres_ca_identifier

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = var.postgres_monitoring_interval
  monitoring_role_arn                   = aws_iam_role.rds_monitoring[0].arn

  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  apply_immediately          = false

  lifecycle {
    precondition {
      condition     = length(local.postgres_zones) >= 2
      error_message = "private_subnet_ids must span at least two availability zones for the two Aurora instances."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.rds_monitoring]
}

# --- The connection URL --------------------------------------------------------------------

resource "aws_secretsmanager_secret" "postgres_url" {
  #checkov:skip=CKV2_AWS_57:The URL embeds the database's master password; rotating it means changing the server's password and redeploying the tasks together, which Terraform does (-replace=random_password.postgres[0], then a new deployment), not a rotation Lambda.
  count = local.store_postgres ? 1 : 0

  name                    = "${var.name}/postgres-url"
  description             = "postgres:// URL (with password) of the store (storage.postgres.url)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "postgres_url" {
  count = local.store_postgres ? 1 : 0

  secret_id = aws_secretsmanager_secret.postgres_url[0].id
  secret_string = format(
    #checkov:skip=CKV_SECRET_4:A format string, not a credential: the password is random_password.postgres and the URL exists only in this secret.
    "postgres://%s:%s@%s:%d/%s",
    var.postgres_username,
    random_password.postgres[0].result,
    local.postgres_host,
    local.postgres_port,
    var.postgres_database,
  )
}
