variable "name" {
  description = "Name prefix of every resource (ECS cluster and service, ALB, roles, log groups)."
  type        = string
  default     = "url-shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,26}$", var.name))
    error_message = "name: 2-27 characters of a-z, 0-9 and '-', starting with a letter (ALB and target group names are limited to 32)."
  }
}

variable "region" {
  description = "AWS region of every resource; also passed to the service as storage.dynamodb.region."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- Network -------------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC to run in. Its primary CIDR becomes rate_limit.trusted_proxies (the ALB's addresses)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing ALB (at least two availability zones)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets of the tasks and of ElastiCache. They need a route to the AWS APIs (NAT gateway or VPC endpoints for DynamoDB, ECR, CloudWatch Logs, Secrets Manager)."
  type        = list(string)
}

variable "metrics_scraper_security_group_ids" {
  description = "Security groups (e.g. a Prometheus in the VPC) allowed to reach the tasks' port directly for GET /metrics; the ALB answers /metrics with 404."
  type        = list(string)
  default     = []
}

variable "alb_ingress_cidrs" {
  description = "Client CIDRs allowed to reach the ALB on 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- Service -------------------------------------------------------------------------------

variable "container_image" {
  description = "Image built from the repository's Dockerfile, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/url-shortener:1.2.3 (prefer a digest)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository holding container_image; the execution role may pull only from it. null when the image is in a public registry."
  type        = string
  default     = null
}

variable "base_url" {
  description = "Public origin of short links (server.base_url), e.g. https://sho.rt. Point its DNS name at the ALB (output alb_dns_name)."
  type        = string

  validation {
    condition     = startswith(var.base_url, "https://")
    error_message = "base_url must be an https:// origin: the ALB serves HTTPS only."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for base_url's host name, used by the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 1024
}

variable "desired_count" {
  description = "Tasks at creation; autoscaling moves it between min_capacity and max_capacity afterwards."
  type        = number
  default     = 2
}

variable "min_capacity" {
  description = "Fewest tasks autoscaling keeps."
  type        = number
  default     = 2
}

variable "max_capacity" {
  description = "Most tasks autoscaling starts."
  type        = number
  default     = 10
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the service."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "Target ALBRequestCountPerTarget (requests per task per minute)."
  type        = number
  default     = 6000
}

variable "extra_environment" {
  description = "More URL_SHORTENER__* settings for the container (e.g. URL_SHORTENER__LINKS__DEFAULT_TTL_SECONDS). Never put secrets here."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the service's and WAF's CloudWatch log groups."
  type        = number
  default     = 365
}

# --- Data ----------------------------------------------------------------------------------

variable "table_name" {
  description = "DynamoDB table of links and API keys (storage.dynamodb.table)."
  type        = string
  default     = "url-shortener"
}

variable "deletion_protection" {
  description = "Deletion protection of the DynamoDB table and the ALB."
  type        = bool
  default     = true
}

# --- Redis (shared rate limiter) -----------------------------------------------------------

variable "enable_redis" {
  description = "Create an ElastiCache Redis replication group and use it as the fleet-wide rate limiter (rate_limit.backend = redis). Without it every task limits on its own."
  type        = bool
  default     = false
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

# --- Edge ----------------------------------------------------------------------------------

variable "enable_waf" {
  description = "Attach a WAFv2 web ACL (AWS managed common and known-bad-input rules, a per-IP rate rule) to the ALB."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it (a coarse flood guard in front of the service's own limits)."
  type        = number
  default     = 20000
}

variable "enable_waf_logging" {
  description = "Send WAF logs (client IP, path and headers of every request, API key headers redacted) to a KMS-encrypted log group. Off by default: the service itself records nothing about visitors."
  type        = bool
  default     = false
}

variable "alb_access_logs_bucket" {
  description = "Existing S3 bucket (SSE-S3, with the ELB log-delivery bucket policy) for ALB access logs, which record client addresses and paths; null (the default) disables them."
  type        = string
  default     = null
}
