data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  container_name = "url-shortener"
  container_port = 8080

  # Every request reaches the tasks from an ALB node inside the VPC: X-Forwarded-For is
  # believed only from there (rate_limit.trusted_proxies).
  trusted_proxies = data.aws_vpc.this.cidr_block

  store_dynamodb  = var.store == "dynamodb"
  store_postgres  = var.store == "postgres"
  postgres_rds    = local.store_postgres && var.postgres_engine == "rds"
  postgres_aurora = local.store_postgres && var.postgres_engine == "aurora"
  cache_tier      = var.enable_redis && var.enable_cache_tier

  environment = merge(
    {
      URL_SHORTENER__SERVER__LISTEN                   = "0.0.0.0:${local.container_port}"
      URL_SHORTENER__SERVER__BASE_URL                 = var.base_url
      URL_SHORTENER__STORAGE__BACKEND                 = var.store
      URL_SHORTENER__AUTH__ANONYMOUS_CREATE           = "false"
      URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES      = local.trusted_proxies
      URL_SHORTENER__LOG__FORMAT                      = "json"
      URL_SHORTENER__SERVER__SHUTDOWN_TIMEOUT_SECONDS = "25"
    },
    local.store_dynamodb ? {
      URL_SHORTENER__STORAGE__DYNAMODB__TABLE  = aws_dynamodb_table.links[0].name
      URL_SHORTENER__STORAGE__DYNAMODB__REGION = var.region
    } : {},
    # The URL (with the password) is a secret below. RDS and Aurora certificates name the
    # endpoint the service connects to, so the host name is checked too (verify-full); the
    # distroless image has no RDS CA, so the region's bundle travels as PEM text (it is public).
    local.store_postgres ? {
      URL_SHORTENER__STORAGE__POSTGRES__POOL_SIZE   = tostring(var.postgres_pool_size)
      URL_SHORTENER__STORAGE__POSTGRES__SSLMODE     = "verify-full"
      URL_SHORTENER__STORAGE__POSTGRES__SSLROOTCERT = local.rds_ca_bundle
    } : {},
    var.enable_redis ? { URL_SHORTENER__RATE_LIMIT__BACKEND = "redis" } : {},
    var.extra_environment,
  )

  # Secrets Manager values injected by ECS at task start (never in the task definition).
  secrets = merge(
    var.enable_redis ? {
      URL_SHORTENER__RATE_LIMIT__REDIS_URL = aws_secretsmanager_secret.redis_url[0].arn
      URL_SHORTENER__RATE_LIMIT__SECRET    = aws_secretsmanager_secret.rate_limit_secret[0].arn
    } : {},
    # The cache tier shares the limiter's replication group (and so its URL): its entries expire
    # by themselves, and the group evicts only keys with an expiry (volatile-lru) when full.
    local.cache_tier ? {
      URL_SHORTENER__CACHE__REDIS_URL = aws_secretsmanager_secret.redis_url[0].arn
    } : {},
    local.store_postgres ? {
      URL_SHORTENER__STORAGE__POSTGRES__URL = aws_secretsmanager_secret.postgres_url[0].arn
    } : {},
  )

  # What the execution role may read: exactly the secrets above. (has_secrets is known at plan
  # time; the ARNs are not until the secrets exist.)
  has_secrets = var.enable_redis || local.store_postgres
  secret_arns = distinct(values(local.secrets))
}
