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
  description = "AWS region of every resource; also passed to the service as storage.dynamodb.region, and names the RDS CA bundle the service trusts."
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
  description = "Private subnets (at least two availability zones) of the tasks, of ElastiCache and of PostgreSQL. They need a route to the AWS APIs (NAT gateway or VPC endpoints for DynamoDB, ECR, CloudWatch Logs, Secrets Manager)."
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

variable "store" {
  description = "Where links, API keys and accounts live (storage.backend): \"dynamodb\" (a table, pay per request, nothing to run) or \"postgres\" (RDS for PostgreSQL or Aurora PostgreSQL, see postgres_*). Changing it on a running deployment does not copy the data."
  type        = string
  default     = "dynamodb"

  validation {
    condition     = contains(["dynamodb", "postgres"], var.store)
    error_message = "store must be \"dynamodb\" or \"postgres\"."
  }
}

variable "table_name" {
  description = "DynamoDB table of links and API keys (storage.dynamodb.table); only with store = \"dynamodb\"."
  type        = string
  default     = "url-shortener"
}

variable "deletion_protection" {
  description = "Deletion protection of the DynamoDB table or the PostgreSQL instance/cluster, and of the ALB."
  type        = bool
  default     = true
}

# --- PostgreSQL (store = "postgres") --------------------------------------------------------

variable "postgres_engine" {
  description = "\"rds\": one RDS for PostgreSQL instance, Multi-AZ (a standby in a second zone). \"aurora\": an Aurora PostgreSQL cluster of two instances in different zones (writer and a reader that takes over)."
  type        = string
  default     = "rds"

  validation {
    condition     = contains(["rds", "aurora"], var.postgres_engine)
    error_message = "postgres_engine must be \"rds\" or \"aurora\"."
  }
}

variable "postgres_engine_version" {
  description = "PostgreSQL version: a major version (\"16\": AWS picks its default minor and upgrades minors itself) or a full one (\"16.4\"). The parameter group family follows the major version."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^[0-9]{2}(\\.[0-9]+)?$", var.postgres_engine_version))
    error_message = "postgres_engine_version: a major version such as \"16\" or a full one such as \"16.4\"."
  }
}

variable "postgres_instance_class" {
  description = "Instance class of the RDS instance or of each Aurora instance. Aurora takes db.r* and db.t* classes only. RDS and Aurora derive the server's max_connections from its memory (about 110 per GiB, at most 5,000)."
  type        = string
  default     = "db.r7g.large"
}

variable "postgres_allocated_storage" {
  description = "RDS only: initial gp3 storage in GiB (Aurora storage grows by itself)."
  type        = number
  default     = 20

  validation {
    condition     = var.postgres_allocated_storage >= 20
    error_message = "postgres_allocated_storage: at least 20 GiB (gp3's minimum)."
  }
}

variable "postgres_max_allocated_storage" {
  description = "RDS only: storage autoscaling ceiling in GiB, above postgres_allocated_storage (0 turns autoscaling off)."
  type        = number
  default     = 200

  validation {
    condition     = var.postgres_max_allocated_storage >= 0
    error_message = "postgres_max_allocated_storage: 0 (off) or a size in GiB."
  }
}

variable "postgres_database" {
  description = "Database the service uses; created with the instance and owned by postgres_username, so the service can apply its own migrations at start."
  type        = string
  default     = "url_shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.postgres_database))
    error_message = "postgres_database: 1-63 characters of a-z, 0-9 and '_', starting with a letter."
  }
}

variable "postgres_username" {
  description = "Master user, which the service connects as (its password is generated and kept in Secrets Manager)."
  type        = string
  default     = "url_shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.postgres_username)) && !startswith(var.postgres_username, "rds")
    error_message = "postgres_username: 1-63 characters of a-z, 0-9 and '_', starting with a letter, and not starting with \"rds\" (reserved by RDS)."
  }
}

variable "postgres_pool_size" {
  description = "storage.postgres.pool_size: connections each task opens at most. The server needs max_capacity x pool_size (twice that while a deployment runs old and new tasks side by side) below its max_connections."
  type        = number
  default     = 8

  validation {
    condition     = var.postgres_pool_size >= 1 && var.postgres_pool_size <= 100
    error_message = "postgres_pool_size: 1-100."
  }
}

variable "postgres_backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14

  validation {
    condition     = var.postgres_backup_retention_days >= 1 && var.postgres_backup_retention_days <= 35
    error_message = "postgres_backup_retention_days: 1-35 (0 would turn backups off)."
  }
}

variable "postgres_monitoring_interval" {
  description = "Seconds between Enhanced Monitoring (OS metrics) samples: 1, 5, 10, 15, 30 or 60."
  type        = number
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.postgres_monitoring_interval)
    error_message = "postgres_monitoring_interval: 1, 5, 10, 15, 30 or 60."
  }
}

# --- Redis (shared rate limiter, optional cache tier) ----------------------------------------

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

variable "enable_cache_tier" {
  description = "Also use the ElastiCache group as the fleet's shared cache tier (cache.redis_url): a link one task read from the store is served to every other task from Redis, and edits and deletes reach every task's in-process cache at once. Recommended with store = \"postgres\". Requires enable_redis."
  type        = bool
  default     = false
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
