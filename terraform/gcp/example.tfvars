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
