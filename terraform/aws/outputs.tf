output "url" {
  description = "Public origin of the service (server.base_url)."
  value       = var.base_url
}

output "alb_dns_name" {
  description = "Point base_url's DNS name here (CNAME, or a Route 53 alias with alb_zone_id)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the ALB, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "table_name" {
  description = "DynamoDB table (storage.dynamodb.table); null with store = \"postgres\"."
  value       = local.store_dynamodb ? aws_dynamodb_table.links[0].name : null
}

output "table_arn" {
  description = "DynamoDB table ARN; null with store = \"postgres\"."
  value       = local.store_dynamodb ? aws_dynamodb_table.links[0].arn : null
}

output "postgres_endpoint" {
  description = "Host name of the PostgreSQL writer (the RDS instance's address or the Aurora cluster endpoint), port 5432; null with store = \"dynamodb\"."
  value       = local.postgres_host
}

output "postgres_url_secret_arn" {
  description = "Secrets Manager secret holding the store's postgres:// URL with the password (storage.postgres.url); null with store = \"dynamodb\"."
  value       = local.store_postgres ? aws_secretsmanager_secret.postgres_url[0].arn : null
}

output "kms_key_arn" {
  description = "Customer managed key of the table or database, logs, secrets and Redis."
  value       = aws_kms_key.this.arn
}

output "ecs_cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_name" {
  description = "ECS service."
  value       = aws_ecs_service.this.name
}

output "log_group_name" {
  description = "CloudWatch log group of the service (JSON lines)."
  value       = aws_cloudwatch_log_group.service.name
}

output "task_role_arn" {
  description = "Role of the running service (DynamoDB on the table only; no permission with store = \"postgres\")."
  value       = aws_iam_role.task.arn
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (null without enable_redis)."
  value       = var.enable_redis ? aws_elasticache_replication_group.redis[0].primary_endpoint_address : null
}

output "redis_url_secret_arn" {
  description = "Secrets Manager secret holding the rediss:// URL of the rate limiter and, with enable_cache_tier, of the cache tier (null without enable_redis)."
  value       = var.enable_redis ? aws_secretsmanager_secret.redis_url[0].arn : null
}
