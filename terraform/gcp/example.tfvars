# Example values: copy to terraform.tfvars and edit.
project_id      = "my-project"
region          = "europe-west1"
container_image = "europe-west1-docker.pkg.dev/my-project/containers/url-shortener:0.1.0"
base_url        = "https://sho.rt"

min_instances = 1
max_instances = 10
concurrency   = 250

network        = "default"
connector_cidr = "10.8.0.0/28"

# The store: Cloud SQL for PostgreSQL (regional), with Memorystore as the shared cache tier ...
store                       = "postgres"
enable_cache_tier           = true
postgres_tier               = "db-custom-2-7680"
postgres_pool_size          = 8 # max_instances (10) x 8 + 10 <= 200
postgres_max_connections    = 200
private_service_access_cidr = "10.9.0.0/20"

# ... or Memorystore for Redis alone (the default): in memory, hourly snapshots.
# store = "redis"
