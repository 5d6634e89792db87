locals {
  apis = [
    "compute.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "vpcaccess.googleapis.com",
  ]
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

# --- Memorystore for Redis: the link store ---------------------------------------------------

resource "google_redis_instance" "store" {
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

# --- Secrets -------------------------------------------------------------------------------

resource "random_password" "rate_limit_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "redis_url" {
  secret_id = "${var.name}-redis-url"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_url" {
  secret = google_secret_manager_secret.redis_url.id
  # Memorystore's AUTH string and TLS port (6378 with in-transit encryption).
  secret_data = format(
    "rediss://:%s@%s:%d",
    google_redis_instance.store.auth_string,
    google_redis_instance.store.host,
    google_redis_instance.store.port,
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
  secret_id = "${var.name}-redis-ca"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_ca" {
  secret      = google_secret_manager_secret.redis_ca.id
  secret_data = join("\n", [for c in google_redis_instance.store.server_ca_certs : c.cert])
}

# --- Identity: the service reads its own secrets and nothing else ------------------------------

resource "google_service_account" "service" {
  account_id   = "${var.name}-run"
  display_name = "url-shortener Cloud Run service"
  description  = "Runs url-shortener; may read its own two secrets only."
}

resource "google_secret_manager_secret_iam_member" "redis_url" {
  secret_id = google_secret_manager_secret.redis_url.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

resource "google_secret_manager_secret_iam_member" "redis_ca" {
  secret_id = google_secret_manager_secret.redis_ca.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

resource "google_secret_manager_secret_iam_member" "rate_limit_secret" {
  secret_id = google_secret_manager_secret.rate_limit_secret.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

# --- Network path to Memorystore ---------------------------------------------------------------

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
      URL_SHORTENER__STORAGE__BACKEND            = "redis"
      URL_SHORTENER__RATE_LIMIT__BACKEND         = "redis"
      URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES = join(",", var.trusted_proxies)
      URL_SHORTENER__AUTH__ANONYMOUS_CREATE      = "false"
      URL_SHORTENER__LOG__FORMAT                 = "json"
      # Cloud Run sends SIGKILL 10 s after SIGTERM.
      URL_SHORTENER__SERVER__SHUTDOWN_TIMEOUT_SECONDS = "8"
      SSL_CERT_FILE                                   = "${local.redis_ca_dir}/ca.pem"
    },
    var.extra_environment,
  )

  secret_environment = {
    URL_SHORTENER__STORAGE__REDIS__URL   = google_secret_manager_secret.redis_url.secret_id
    URL_SHORTENER__RATE_LIMIT__REDIS_URL = google_secret_manager_secret.redis_url.secret_id
    URL_SHORTENER__RATE_LIMIT__SECRET    = google_secret_manager_secret.rate_limit_secret.secret_id
  }
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

    volumes {
      name = "redis-ca"
      secret {
        secret = google_secret_manager_secret.redis_ca.secret_id
        items {
          version = "latest"
          path    = "ca.pem"
        }
      }
    }

    containers {
      image = var.container_image

      ports {
        container_port = 8080
      }

      volume_mounts {
        name       = "redis-ca"
        mount_path = local.redis_ca_dir
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
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
    google_secret_manager_secret_version.rate_limit_secret,
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
