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
  description = "DynamoDB table (storage.dynamodb.table)."
  value       = aws_dynamodb_table.links.name
}

output "table_arn" {
  description = "DynamoDB table ARN."
  value       = aws_dynamodb_table.links.arn
}

output "kms_key_arn" {
  description = "Customer managed key of the table, logs, secrets and Redis."
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
  description = "Role of the running service (DynamoDB on the table only)."
  value       = aws_iam_role.task.arn
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (null without enable_redis)."
  value       = var.enable_redis ? aws_elasticache_replication_group.redis[0].primary_endpoint_address : null
}

output "redis_url_secret_arn" {
  description = "Secrets Manager secret holding the rate limiter's rediss:// URL (null without enable_redis)."
  value       = var.enable_redis ? aws_secretsmanager_secret.redis_url[0].arn : null
}
