output "url" {
  description = "Cloud Run URL of the service (map base_url's domain to it)."
  value       = google_cloud_run_v2_service.this.uri
}

output "base_url" {
  description = "Public origin of short links (server.base_url)."
  value       = var.base_url
}

output "service_account_email" {
  description = "Identity of the service."
  value       = google_service_account.service.email
}

output "redis_host" {
  description = "Memorystore private address: the store, or with postgres the cache tier (null with postgres and enable_cache_tier = false)."
  value       = local.memorystore ? local.redis.host : null
}

output "redis_port" {
  description = "Memorystore TLS port (null without Memorystore)."
  value       = local.memorystore ? local.redis.port : null
}

output "redis_server_ca_certs" {
  description = "CA certificates of Memorystore's TLS server certificate (clients must trust them); empty without Memorystore."
  value       = local.memorystore ? [for c in local.redis.server_ca_certs : c.cert] : []
}

output "redis_url_secret" {
  description = "Secret Manager secret holding the rediss:// URL with the AUTH string (null without Memorystore)."
  value       = local.memorystore ? google_secret_manager_secret.redis_url[0].id : null
}

output "postgres_instance" {
  description = "Cloud SQL instance connection name (project:region:instance); null with store = \"redis\"."
  value       = local.store_postgres ? google_sql_database_instance.postgres[0].connection_name : null
}

output "postgres_private_ip" {
  description = "Cloud SQL private address (port 5432), reachable from the network only; null with store = \"redis\"."
  value       = local.store_postgres ? google_sql_database_instance.postgres[0].private_ip_address : null
}

output "postgres_server_ca_cert" {
  description = "CA certificate of Cloud SQL's server certificate (storage.postgres.sslrootcert, with sslmode verify-ca); null with store = \"redis\"."
  value       = local.store_postgres ? google_sql_database_instance.postgres[0].server_ca_cert[0].cert : null
}

output "postgres_url_secret" {
  description = "Secret Manager secret holding the store's postgres:// URL with the password (storage.postgres.url); null with store = \"redis\"."
  value       = local.store_postgres ? google_secret_manager_secret.postgres_url[0].id : null
}

output "vpc_connector" {
  description = "Serverless VPC Access connector."
  value       = google_vpc_access_connector.this.id
}
