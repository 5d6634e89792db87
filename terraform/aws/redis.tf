# Optional ElastiCache Redis for the fleet-wide rate limiter (rate_limit.backend = "redis") and,
# with enable_cache_tier, the fleet's shared cache tier (cache.redis_url) on the same group.
# TLS in transit, KMS at rest, AUTH token; the connection URL and the limiter's HMAC secret live
# in Secrets Manager and reach the tasks through the task definition's `secrets`. The default
# parameter group's maxmemory-policy (volatile-lru) suits both: every key either writes has an
# expiry, so a full group evicts old entries instead of refusing writes.

resource "random_password" "redis_auth" {
  count = var.enable_redis ? 1 : 0

  # Letters and digits only: the token is embedded in a URL.
  length  = 64
  special = false
}

resource "random_password" "rate_limit_secret" {
  count = var.enable_redis ? 1 : 0

  length  = 48
  special = false
}

resource "aws_elasticache_subnet_group" "redis" {
  count = var.enable_redis ? 1 : 0

  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
}

resource "aws_elasticache_replication_group" "redis" {
  count = var.enable_redis ? 1 : 0

  replication_group_id       = "${var.name}-redis"
  description                = "url-shortener rate limiter"
  engine                     = "redis"
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  port                       = 6379
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.redis[0].name
  security_group_ids         = [aws_security_group.redis[0].id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth[0].result

  snapshot_retention_limit   = 1
  auto_minor_version_upgrade = true
  apply_immediately          = false
}

resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:The URL embeds the ElastiCache AUTH token; rotating it means rotating the replication group's token (auth_token_update_strategy), so it is rotated through Terraform, not a rotation Lambda.
  count = var.enable_redis ? 1 : 0

  name                    = "${var.name}/rate-limit-redis-url"
  description             = "rediss:// URL (with AUTH token) of the rate limiter's Redis"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  count = var.enable_redis ? 1 : 0

  secret_id = aws_secretsmanager_secret.redis_url[0].id
  secret_string = format(
    "rediss://:%s@%s:%d",
    random_password.redis_auth[0].result,
    aws_elasticache_replication_group.redis[0].primary_endpoint_address,
    aws_elasticache_replication_group.redis[0].port,
  )
}

resource "aws_secretsmanager_secret" "rate_limit_secret" {
  #checkov:skip=CKV2_AWS_57:rate_limit.secret must be identical on every task at all times; an automatic rotation would split the fleet's budgets until every task restarted. Rotate by tainting random_password.rate_limit_secret and redeploying.
  count = var.enable_redis ? 1 : 0

  name                    = "${var.name}/rate-limit-secret"
  description             = "HMAC key of client identities in the rate limiter (rate_limit.secret)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "rate_limit_secret" {
  count = var.enable_redis ? 1 : 0

  secret_id     = aws_secretsmanager_secret.rate_limit_secret[0].id
  secret_string = random_password.rate_limit_secret[0].result
}
