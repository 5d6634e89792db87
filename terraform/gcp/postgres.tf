# Cloud SQL for PostgreSQL as the store (store = "postgres"): private IP only, in the network
# the VPC connector already reaches, TLS required, daily backups with point-in-time recovery,
# regional (a standby in a second zone) by default. The service applies its schema migrations
# itself at start (README "PostgreSQL"), so nothing here runs SQL.

# --- Private services access: how a VPC reaches Cloud SQL's private IP --------------------------

resource "google_compute_global_address" "private_services" {
  count = local.store_postgres && var.create_private_service_access ? 1 : 0

  name          = "${var.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  address       = split("/", var.private_service_access_cidr)[0]
  prefix_length = tonumber(split("/", var.private_service_access_cidr)[1])
  network       = data.google_compute_network.this.id

  depends_on = [google_project_service.apis]
}

resource "google_service_networking_connection" "private_services" {
  count = local.store_postgres && var.create_private_service_access ? 1 : 0

  network                 = data.google_compute_network.this.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services[0].name]
  # Google keeps a deleted instance's producer resources for days, during which deleting the
  # peering fails: on destroy Terraform forgets it, and the range can be released later.
  deletion_policy = "ABANDON"
}

# --- The instance ------------------------------------------------------------------------------

resource "google_sql_database_instance" "postgres" {
  #checkov:skip=CKV_GCP_6:ssl_mode = ENCRYPTED_ONLY refuses every connection without TLS; the check also demands client certificates (TRUSTED_CLIENT_CERTIFICATE_REQUIRED), and the service authenticates with a password over TLS (storage.postgres.* has no client certificate).
  #checkov:skip=CKV_GCP_79:PostgreSQL 16 is the version the service's CI runs against (ubuntu-24.04's server); move postgres_version on deliberately, after the tests pass there.
  #checkov:skip=CKV_GCP_110:pgAudit needs CREATE EXTENSION pgaudit in the database, which the service's migrations do not run; log_statement = ddl already records schema changes (the migrations).
  #checkov:skip=CKV2_GCP_13:log_duration writes one line per statement, every cache miss and click flush included: a large log bill that Query Insights' per-query latencies make unnecessary.
  count = local.store_postgres ? 1 : 0

  # A deleted instance's name stays taken for about a week.
  name                = "${var.name}-pg"
  database_version    = var.postgres_version
  region              = var.region
  encryption_key_name = var.postgres_kms_key
  deletion_protection = var.deletion_protection

  settings {
    edition                     = var.postgres_edition
    tier                        = var.postgres_tier
    availability_type           = var.postgres_availability_type
    disk_type                   = "PD_SSD"
    disk_size                   = var.postgres_disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = var.deletion_protection

    ip_configuration {
      ipv4_enabled       = false
      private_network    = data.google_compute_network.this.id
      allocated_ip_range = local.store_postgres && var.create_private_service_access ? google_compute_global_address.private_services[0].name : null
      ssl_mode           = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "03:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = var.postgres_pitr_days

      backup_retention_settings {
        retained_backups = var.postgres_retained_backups
        retention_unit   = "COUNT"
      }
    }

    # Normalised statements and their latencies; no client addresses or application tags.
    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    database_flags {
      name  = "max_connections"
      value = tostring(var.postgres_max_connections)
    }

    # Connections, checkpoints, lock waits, temporary files, errors and DDL (the migrations) are
    # logged; statements with their parameters (long URLs, key and session hashes) are not.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }

    database_flags {
      name  = "log_connections"
      value = "on"
    }

    database_flags {
      name  = "log_disconnections"
      value = "on"
    }

    database_flags {
      name  = "log_hostname"
      value = "on"
    }

    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }

    database_flags {
      name  = "log_temp_files"
      value = "0"
    }

    database_flags {
      name  = "log_min_messages"
      value = "warning"
    }

    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }

    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
  }

  lifecycle {
    precondition {
      condition     = var.max_instances * var.postgres_pool_size + 10 <= var.postgres_max_connections
      error_message = "max_instances x postgres_pool_size + 10 must not exceed postgres_max_connections: lower the pool size or raise max_connections (and the tier's memory)."
    }
  }

  depends_on = [google_project_service.apis, google_service_networking_connection.private_services]
}

resource "google_sql_database" "this" {
  count = local.store_postgres ? 1 : 0

  name     = var.postgres_database
  instance = google_sql_database_instance.postgres[0].name
}

# Letters and digits only: the password is embedded in a URL.
resource "random_password" "postgres" {
  count = local.store_postgres ? 1 : 0

  length  = 40
  special = false
}

# A built-in user, member of cloudsqlsuperuser (the owner of the database and its public
# schema), so the first start can create the tables.
resource "google_sql_user" "service" {
  count = local.store_postgres ? 1 : 0

  name     = var.postgres_username
  instance = google_sql_database_instance.postgres[0].name
  password = random_password.postgres[0].result
  # The user owns the tables its migrations created, and PostgreSQL refuses to drop such a role:
  # on destroy Terraform forgets it (deleting the instance removes it anyway).
  deletion_policy = "ABANDON"
}

# --- The connection URL ----------------------------------------------------------------------

resource "google_secret_manager_secret" "postgres_url" {
  count = local.store_postgres ? 1 : 0

  secret_id = "${var.name}-postgres-url"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "postgres_url" {
  count = local.store_postgres ? 1 : 0

  secret = google_secret_manager_secret.postgres_url[0].id
  secret_data = format(
    #checkov:skip=CKV_SECRET_4:A format string, not a credential: the password is random_password.postgres and the URL exists only in this secret.
    "postgres://%s:%s@%s:5432/%s",
    google_sql_user.service[0].name,
    random_password.postgres[0].result,
    google_sql_database_instance.postgres[0].private_ip_address,
    google_sql_database.this[0].name,
  )
}

resource "google_secret_manager_secret_iam_member" "postgres_url" {
  count = local.store_postgres ? 1 : 0

  secret_id = google_secret_manager_secret.postgres_url[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}
