variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, the VPC connector and Memorystore."
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
  description = "Enable the Cloud Run, Serverless VPC Access, Memorystore, Secret Manager and Compute APIs."
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
  description = "VPC network of the Memorystore instance and the Serverless VPC Access connector."
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

# --- Redis (the store) ---------------------------------------------------------------------

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

variable "deletion_protection" {
  description = "Protect the Cloud Run service from `terraform destroy`."
  type        = bool
  default     = true
}
