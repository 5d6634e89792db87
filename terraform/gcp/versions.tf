terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Keep state remote, e.g.:
  # backend "gcs" {
  #   bucket = "my-terraform-state"
  #   prefix = "url-shortener/gcp"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge({ application = var.name, managed-by = "terraform" }, var.labels)
}
