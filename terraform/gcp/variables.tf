variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, the VPC connector, Memorystore and Cloud SQL."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "url-shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}$", var.name))
    error_message = "name: 2-19 characters of a-z, 0-9 and '-', starting with a letter (the VPC connector's name is name + \"-vpc\", at most 25)."
  }
}

variable "labels" {
  description = "Extra labels on every resource."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the Cloud Run, Serverless VPC Access, Memorystore, Secret Manager and Compute APIs (and Cloud SQL Admin and Service Networking with store = \"postgres\")."
  type        = bool
  default     = true
}

# --- Service -------------------------------------------------------------------------------

variable "container_image" {
  description = "Image built from the repository's Dockerfile, in Artifact Registry, e.g. europe-west1-docker.pkg.dev/PROJECT/REPO/url-shortener:1.2.3 (prefer a digest)."
  type        = string
}

variable "base_url" {
  description = "Public origin of short links (server.base_url): a domain mapped to the service, or the run.app URL once known."
  type        = string

  validation {
    condition     = startswith(var.base_url, "https://")
    error_message = "base_url must be an https:// origin."
  }
}

variable "min_instances" {
  description = "Instances kept warm (0 allows scale to zero, at the price of cold starts and of the click flush and expiry sweep pausing)."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Most instances Cloud Run starts."
  type        = number
  default     = 10
}

variable "concurrency" {
  description = "Requests one instance serves at once."
  type        = number
  default     = 250
}

variable "cpu" {
  description = "vCPUs of one instance."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory of one instance."
  type        = string
  default     = "512Mi"
}

variable "trusted_proxies" {
  description = "rate_limit.trusted_proxies. Cloud Run's front end connects to the container from a link-local address and sets X-Forwarded-For to the client's address. Add 35.191.0.0/16 and 130.211.0.0/22 when an external Application Load Balancer sits in front."
  type        = list(string)
  default     = ["169.254.0.0/16"]
}

variable "extra_environment" {
  description = "More URL_SHORTENER__* settings for the container. Never put secrets here."
  type        = map(string)
  default     = {}
}

variable "public" {
  description = "Let anyone invoke the service (allUsers run.invoker): what a public URL shortener needs. Creates still require an API key."
  type        = bool
  default     = true
}

# --- Network -------------------------------------------------------------------------------

variable "network" {
  description = "VPC network of the Memorystore instance, of Cloud SQL's private IP and of the Serverless VPC Access connector."
  type        = string
  default     = "default"
}

variable "connector_cidr" {
  description = "Unused /28 in the network for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "connector_machine_type" {
  description = "Machine type of the connector's instances."
  type        = string
  default     = "e2-micro"
}

# --- The store --------------------------------------------------------------------------------

variable "store" {
  description = "Where links, API keys and accounts live (storage.backend): \"redis\" (Memorystore, in memory with hourly snapshots) or \"postgres\" (Cloud SQL for PostgreSQL, see postgres_*). Changing it on a running deployment does not copy the data (and Terraform refuses to drop the Memorystore store: prevent_destroy)."
  type        = string
  default     = "redis"

  validation {
    condition     = contains(["redis", "postgres"], var.store)
    error_message = "store must be \"redis\" or \"postgres\"."
  }
}

variable "enable_cache_tier" {
  description = "With store = \"postgres\": keep a Memorystore instance as the fleet's shared cache tier (cache.redis_url) and fleet-wide rate limiter (rate_limit.backend = redis). On by default: Cloud Run scales out to many instances, each with a cold in-process cache and, without Redis, its own rate-limit budget per client. false drops Memorystore: every instance then caches only in its own memory and rate-limits on its own. Ignored with store = \"redis\", where Memorystore is the store itself."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the Cloud Run service and the Cloud SQL instance from `terraform destroy` (Cloud SQL also from deletion through the API)."
  type        = bool
  default     = true
}

# --- Memorystore for Redis (the store, or with postgres the cache tier) --------------------

variable "redis_tier" {
  description = "Memorystore tier: STANDARD_HA (replicated, automatic failover) for production, BASIC for trials."
  type        = string
  default     = "STANDARD_HA"
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity in GiB."
  type        = number
  default     = 1
}

variable "redis_version" {
  description = "Memorystore Redis version."
  type        = string
  default     = "REDIS_7_2"
}

variable "redis_kms_key" {
  description = "Cloud KMS key (projects/…/cryptoKeys/…) for Memorystore CMEK; null keeps Google-managed encryption at rest."
  type        = string
  default     = null
}

# --- Cloud SQL for PostgreSQL (store = "postgres") -------------------------------------------

variable "postgres_version" {
  description = "Cloud SQL database version."
  type        = string
  default     = "POSTGRES_16"

  validation {
    condition     = can(regex("^POSTGRES_[0-9]{2}$", var.postgres_version))
    error_message = "postgres_version: POSTGRES_<major>, e.g. POSTGRES_16."
  }
}

variable "postgres_edition" {
  description = "Cloud SQL edition: ENTERPRISE (db-custom-* tiers) or ENTERPRISE_PLUS (db-perf-optimized-N-* tiers). Set explicitly: PostgreSQL 16 instances default to ENTERPRISE_PLUS, which refuses db-custom tiers."
  type        = string
  default     = "ENTERPRISE"

  validation {
    condition     = contains(["ENTERPRISE", "ENTERPRISE_PLUS"], var.postgres_edition)
    error_message = "postgres_edition must be ENTERPRISE or ENTERPRISE_PLUS."
  }
}

variable "postgres_tier" {
  description = "Machine of the instance, e.g. db-custom-2-7680 (2 vCPUs, 7.5 GiB)."
  type        = string
  default     = "db-custom-2-7680"
}

variable "postgres_availability_type" {
  description = "REGIONAL: a standby in a second zone with automatic failover (production). ZONAL: one zone (trials)."
  type        = string
  default     = "REGIONAL"

  validation {
    condition     = contains(["REGIONAL", "ZONAL"], var.postgres_availability_type)
    error_message = "postgres_availability_type must be REGIONAL or ZONAL."
  }
}

variable "postgres_disk_size_gb" {
  description = "Initial SSD size in GiB; it grows by itself (disk_autoresize)."
  type        = number
  default     = 10
}

variable "postgres_max_connections" {
  description = "The server's max_connections flag. It must hold max_instances x postgres_pool_size plus 10 for operators and Cloud SQL's own sessions (checked at plan time); a revision rollout briefly runs old and new instances side by side."
  type        = number
  default     = 200

  validation {
    condition     = var.postgres_max_connections >= 25 && var.postgres_max_connections <= 5000
    error_message = "postgres_max_connections: 25-5000."
  }
}

variable "postgres_pool_size" {
  description = "storage.postgres.pool_size: connections each Cloud Run instance opens at most."
  type        = number
  default     = 8

  validation {
    condition     = var.postgres_pool_size >= 1 && var.postgres_pool_size <= 100
    error_message = "postgres_pool_size: 1-100."
  }
}

variable "postgres_database" {
  description = "Database the service uses. Cloud SQL's users are members of cloudsqlsuperuser, which owns it, so the service applies its own migrations at start."
  type        = string
  default     = "url_shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.postgres_database))
    error_message = "postgres_database: 1-63 characters of a-z, 0-9 and '_', starting with a letter."
  }
}

variable "postgres_username" {
  description = "Built-in user the service connects as (its password is generated and kept in Secret Manager)."
  type        = string
  default     = "url_shortener"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.postgres_username)) && !startswith(var.postgres_username, "cloudsql") && var.postgres_username != "postgres"
    error_message = "postgres_username: 1-63 characters of a-z, 0-9 and '_', starting with a letter; not postgres nor cloudsql* (Cloud SQL's own)."
  }
}

variable "postgres_retained_backups" {
  description = "Daily automated backups kept."
  type        = number
  default     = 14

  validation {
    condition     = var.postgres_retained_backups >= 1 && var.postgres_retained_backups <= 365
    error_message = "postgres_retained_backups: 1-365."
  }
}

variable "postgres_pitr_days" {
  description = "Days of write-ahead log kept for point-in-time recovery (at most 7 with ENTERPRISE, 35 with ENTERPRISE_PLUS)."
  type        = number
  default     = 7

  validation {
    condition     = var.postgres_pitr_days >= 1 && var.postgres_pitr_days <= 35
    error_message = "postgres_pitr_days: 1-35."
  }
}

variable "postgres_kms_key" {
  description = "Cloud KMS key (projects/…/cryptoKeys/…) for Cloud SQL CMEK, in the instance's region; Cloud SQL's service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it. null keeps Google-managed encryption at rest."
  type        = string
  default     = null
}

variable "create_private_service_access" {
  description = "Reserve private_service_access_cidr and peer the network with Google's service networking, which Cloud SQL's private IP needs. Set false when the network already has private services access (another Cloud SQL, Filestore, ...): there is one such connection per network, and this one would replace its ranges."
  type        = bool
  default     = true
}

variable "private_service_access_cidr" {
  description = "Unused range in the network (at least a /24) reserved for Cloud SQL's private IP, with create_private_service_access."
  type        = string
  default     = "10.9.0.0/20"

  validation {
    condition     = can(cidrhost(var.private_service_access_cidr, 0)) && tonumber(split("/", var.private_service_access_cidr)[1]) <= 24
    error_message = "private_service_access_cidr: a CIDR block of /24 or larger."
  }
}
