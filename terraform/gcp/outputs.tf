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
  description = "Memorystore private address."
  value       = google_redis_instance.store.host
}

output "redis_port" {
  description = "Memorystore TLS port."
  value       = google_redis_instance.store.port
}

output "redis_server_ca_certs" {
  description = "CA certificates of Memorystore's TLS server certificate (clients must trust them)."
  value       = [for c in google_redis_instance.store.server_ca_certs : c.cert]
}

output "redis_url_secret" {
  description = "Secret Manager secret holding the rediss:// URL with the AUTH string."
  value       = google_secret_manager_secret.redis_url.id
}

output "vpc_connector" {
  description = "Serverless VPC Access connector."
  value       = google_vpc_access_connector.this.id
}
