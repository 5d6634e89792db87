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

  environment = merge(
    {
      URL_SHORTENER__SERVER__LISTEN                   = "0.0.0.0:${local.container_port}"
      URL_SHORTENER__SERVER__BASE_URL                 = var.base_url
      URL_SHORTENER__STORAGE__BACKEND                 = "dynamodb"
      URL_SHORTENER__STORAGE__DYNAMODB__TABLE         = aws_dynamodb_table.links.name
      URL_SHORTENER__STORAGE__DYNAMODB__REGION        = var.region
      URL_SHORTENER__AUTH__ANONYMOUS_CREATE           = "false"
      URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES      = local.trusted_proxies
      URL_SHORTENER__LOG__FORMAT                      = "json"
      URL_SHORTENER__SERVER__SHUTDOWN_TIMEOUT_SECONDS = "25"
    },
    var.enable_redis ? { URL_SHORTENER__RATE_LIMIT__BACKEND = "redis" } : {},
    var.extra_environment,
  )

  # Secrets Manager values injected by ECS at task start (never in the task definition).
  secrets = var.enable_redis ? {
    URL_SHORTENER__RATE_LIMIT__REDIS_URL = aws_secretsmanager_secret.redis_url[0].arn
    URL_SHORTENER__RATE_LIMIT__SECRET    = aws_secretsmanager_secret.rate_limit_secret[0].arn
  } : {}
}
