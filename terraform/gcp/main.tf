locals {
  store_redis    = var.store == "redis"
  store_postgres = var.store == "postgres"
  # Memorystore is the store, or (with postgres) the cache tier and rate limiter, or absent.
  cache_tier  = local.store_postgres && var.enable_cache_tier
  memorystore = local.store_redis || local.cache_tier

  apis = concat(
    [
      "compute.googleapis.com",
      "redis.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "vpcaccess.googleapis.com",
    ],
    local.store_postgres ? ["servicenetworking.googleapis.com", "sqladmin.googleapis.com"] : [],
  )
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? toset(local.apis) : toset([])

  service            = each.value
  disable_on_destroy = false
}

data "google_compute_network" "this" {
  name = var.network

  depends_on = [google_project_service.apis]
}

# --- Memorystore for Redis: the link store (store = "redis") ---------------------------------

resource "google_redis_instance" "store" {
  count = local.store_redis ? 1 : 0

  name               = "${var.name}-store"
  display_name       = "url-shortener links"
  tier               = var.redis_tier
  memory_size_gb     = var.redis_memory_size_gb
  redis_version      = var.redis_version
  region             = var.region
  authorized_network = data.google_compute_network.this.id
  connect_mode       = "DIRECT_PEERING"

  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  customer_managed_key    = var.redis_kms_key

  # Redis is the only copy of the links: snapshot it, and never evict a key to make room
  # (the default volatile-lru would silently drop links that have an expiry).
  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  redis_configs = {
    maxmemory-policy = "noeviction"
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.apis]
}

# The instance had no count before store = "postgres" existed: keep existing deployments' links.
moved {
  from = google_redis_instance.store
  to   = google_redis_instance.store[0]
}

# --- Memorystore for Redis: cache tier and rate limiter (store = "postgres") ------------------

# A cache, not a copy of anything: no snapshots, and when full it evicts the least recently used
# key with an expiry, which every key of the cache tier and the rate limiter has (noeviction
# would make writes fail instead). Losing it costs only database reads until it refills.
resource "google_redis_instance" "cache" {
  count = local.cache_tier ? 1 : 0

  name               = "${var.name}-cache"
  display_name       = "url-shortener cache tier and rate limiter"
  tier               = var.redis_tier
  memory_size_gb     = var.redis_memory_size_gb
  redis_version      = var.redis_version
  region             = var.region
  authorized_network = data.google_compute_network.this.id
  connect_mode       = "DIRECT_PEERING"

  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  customer_managed_key    = var.redis_kms_key

  persistence_config {
    persistence_mode = "DISABLED"
  }

  redis_configs = {
    maxmemory-policy = "volatile-lru"
  }

  depends_on = [google_project_service.apis]
}

locals {
  # Whichever Memorystore instance exists (null with postgres and no cache tier).
  redis = one(concat(google_redis_instance.store, google_redis_instance.cache))
}

# --- Secrets -------------------------------------------------------------------------------

resource "random_password" "rate_limit_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "redis_url" {
  count = local.memorystore ? 1 : 0

  secret_id = "${var.name}-redis-url"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_url" {
  count = local.memorystore ? 1 : 0

  secret = google_secret_manager_secret.redis_url[0].id
  # Memorystore's AUTH string and TLS port (6378 with in-transit encryption).
  secret_data = format(
    "rediss://:%s@%s:%d",
    local.redis.auth_string,
    local.redis.host,
    local.redis.port,
  )
}

resource "google_secret_manager_secret" "rate_limit_secret" {
  secret_id = "${var.name}-rate-limit-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "rate_limit_secret" {
  secret      = google_secret_manager_secret.rate_limit_secret.id
  secret_data = random_password.rate_limit_secret.result
}

# Memorystore signs its TLS certificate with a CA of its own, which no public trust store
# holds: the service gets it as a file and points SSL_CERT_FILE at it (rustls-native-certs, the
# trust store of the redis crate's rustls TLS, reads that variable).
resource "google_secret_manager_secret" "redis_ca" {
  count = local.memorystore ? 1 : 0

  secret_id = "${var.name}-redis-ca"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_ca" {
  count = local.memorystore ? 1 : 0

  secret      = google_secret_manager_secret.redis_ca[0].id
  secret_data = join("\n", [for c in local.redis.server_ca_certs : c.cert])
}

# --- Identity: the service reads its own secrets and nothing else ------------------------------
# (Cloud SQL needs no role either: the service connects to its private IP with a password, not
# through the Cloud SQL connector or IAM database authentication.)

resource "google_service_account" "service" {
  account_id   = "${var.name}-run"
  display_name = "url-shortener Cloud Run service"
  description  = "Runs url-shortener; may read its own secrets only."
}

resource "google_secret_manager_secret_iam_member" "redis_url" {
  count = local.memorystore ? 1 : 0

  secret_id = google_secret_manager_secret.redis_url[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

resource "google_secret_manager_secret_iam_member" "redis_ca" {
  count = local.memorystore ? 1 : 0

  secret_id = google_secret_manager_secret.redis_ca[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

resource "google_secret_manager_secret_iam_member" "rate_limit_secret" {
  secret_id = google_secret_manager_secret.rate_limit_secret.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

# Existing deployments' secrets and grants, from before they had a count.
moved {
  from = google_secret_manager_secret.redis_url
  to   = google_secret_manager_secret.redis_url[0]
}

moved {
  from = google_secret_manager_secret_version.redis_url
  to   = google_secret_manager_secret_version.redis_url[0]
}

moved {
  from = google_secret_manager_secret.redis_ca
  to   = google_secret_manager_secret.redis_ca[0]
}

moved {
  from = google_secret_manager_secret_version.redis_ca
  to   = google_secret_manager_secret_version.redis_ca[0]
}

moved {
  from = google_secret_manager_secret_iam_member.redis_url
  to   = google_secret_manager_secret_iam_member.redis_url[0]
}

moved {
  from = google_secret_manager_secret_iam_member.redis_ca
  to   = google_secret_manager_secret_iam_member.redis_ca[0]
}

# --- Network path to Memorystore and Cloud SQL ---------------------------------------------------

resource "google_vpc_access_connector" "this" {
  name          = "${var.name}-vpc"
  region        = var.region
  network       = data.google_compute_network.this.name
  ip_cidr_range = var.connector_cidr
  machine_type  = var.connector_machine_type
  min_instances = 2
  max_instances = 3

  depends_on = [google_project_service.apis]
}

# --- Cloud Run -------------------------------------------------------------------------------

locals {
  redis_ca_dir = "/etc/url-shortener/redis-ca"

  environment = merge(
    {
      URL_SHORTENER__SERVER__LISTEN              = "0.0.0.0:8080"
      URL_SHORTENER__SERVER__BASE_URL            = var.base_url
      URL_SHORTENER__STORAGE__BACKEND            = var.store
      URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES = join(",", var.trusted_proxies)
      URL_SHORTENER__AUTH__ANONYMOUS_CREATE      = "false"
      URL_SHORTENER__LOG__FORMAT                 = "json"
      # Cloud Run sends SIGKILL 10 s after SIGTERM.
      URL_SHORTENER__SERVER__SHUTDOWN_TIMEOUT_SECONDS = "8"
    },
    local.memorystore ? {
      URL_SHORTENER__RATE_LIMIT__BACKEND = "redis"
      SSL_CERT_FILE                      = "${local.redis_ca_dir}/ca.pem"
    } : {},
    # The URL (with the password) is a secret below. Cloud SQL's server certificate names the
    # instance, not its private IP, so the chain is checked but not the host name (verify-ca);
    # the CA is the instance's own, passed as PEM text (it is public).
    local.store_postgres ? {
      URL_SHORTENER__STORAGE__POSTGRES__POOL_SIZE   = tostring(var.postgres_pool_size)
      URL_SHORTENER__STORAGE__POSTGRES__SSLMODE     = "verify-ca"
      URL_SHORTENER__STORAGE__POSTGRES__SSLROOTCERT = google_sql_database_instance.postgres[0].server_ca_cert[0].cert
    } : {},
    var.extra_environment,
  )

  secret_environment = merge(
    local.store_redis ? {
      URL_SHORTENER__STORAGE__REDIS__URL = google_secret_manager_secret.redis_url[0].secret_id
    } : {},
    local.cache_tier ? {
      URL_SHORTENER__CACHE__REDIS_URL = google_secret_manager_secret.redis_url[0].secret_id
    } : {},
    local.memorystore ? {
      URL_SHORTENER__RATE_LIMIT__REDIS_URL = google_secret_manager_secret.redis_url[0].secret_id
      URL_SHORTENER__RATE_LIMIT__SECRET    = google_secret_manager_secret.rate_limit_secret.secret_id
    } : {},
    local.store_postgres ? {
      URL_SHORTENER__STORAGE__POSTGRES__URL = google_secret_manager_secret.postgres_url[0].secret_id
    } : {},
  )
}

resource "google_cloud_run_v2_service" "this" {
  name                = var.name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.service.email
    max_instance_request_concurrency = var.concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    timeout                          = "15s"

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    vpc_access {
      connector = google_vpc_access_connector.this.id
      egress    = "PRIVATE_RANGES_ONLY"
    }

    dynamic "volumes" {
      for_each = local.memorystore ? [google_secret_manager_secret.redis_ca[0].secret_id] : []
      content {
        name = "redis-ca"
        secret {
          secret = volumes.value
          items {
            version = "latest"
            path    = "ca.pem"
          }
        }
      }
    }

    containers {
      image = var.container_image

      ports {
        container_port = 8080
      }

      dynamic "volume_mounts" {
        for_each = local.memorystore ? [local.redis_ca_dir] : []
        content {
          name       = "redis-ca"
          mount_path = volume_mounts.value
        }
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # CPU stays allocated between requests: clicks are flushed and expired links swept
        # by background tasks.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.environment
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_environment
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/health/ready"
          port = 8080
        }
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 15
      }

      liveness_probe {
        http_get {
          path = "/health/live"
          port = 8080
        }
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.redis_url,
    google_secret_manager_secret_iam_member.redis_ca,
    google_secret_manager_secret_iam_member.rate_limit_secret,
    google_secret_manager_secret_iam_member.postgres_url,
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
    google_secret_manager_secret_version.rate_limit_secret,
    google_secret_manager_secret_version.postgres_url,
    google_sql_database.this,
    google_sql_user.service,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:A public URL shortener: anyone must be able to follow a short link. Creating links requires an API key (auth.anonymous_create = false).
  count = var.public ? 1 : 0

  project  = google_cloud_run_v2_service.this.project
  location = google_cloud_run_v2_service.this.location
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
