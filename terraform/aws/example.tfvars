# Example values: copy to terraform.tfvars and edit. scripts/lint-infra also runs checkov with
# this file so that the optional resources (PostgreSQL, ElastiCache and their secrets, WAF
# logging) are checked; the run without it checks the default DynamoDB store.
region             = "eu-west-1"
vpc_id             = "vpc-0123456789abcdef0"
public_subnet_ids  = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]

container_image    = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/url-shortener:0.1.0"
ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/url-shortener"

base_url        = "https://sho.rt"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"

# The store: PostgreSQL (RDS, Multi-AZ) with the ElastiCache group as the shared cache tier ...
store                   = "postgres"
postgres_engine         = "rds" # or "aurora": a two-instance cluster
postgres_instance_class = "db.r7g.large"
postgres_pool_size      = 8 # max_capacity (10) x 8, twice during a deployment: 160 connections
enable_cache_tier       = true

# ... or DynamoDB (the default): no database to run, pay per request.
# store      = "dynamodb"
# table_name = "url-shortener"

enable_redis       = true
enable_waf         = true
enable_waf_logging = true

extra_environment = {
  URL_SHORTENER__LINKS__DEFAULT_TTL_SECONDS = "2592000"
}
