# The table exactly as the service expects it (README "Storage" / DynamoDB): links and API keys
# keyed by short_code, the expiry index the sweeper queries, the owner index of users' listings,
# the link-health schedule and broken-links indexes, native TTL on `ttl`. Only with store = "dynamodb".
resource "aws_dynamodb_table" "links" {
  count = local.store_dynamodb ? 1 : 0

  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "short_code"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "short_code"
    type = "S"
  }

  attribute {
    name = "expiry_bucket"
    type = "S"
  }

  attribute {
    name = "expires_at"
    type = "N"
  }

  attribute {
    name = "owner_id"
    type = "S"
  }

  attribute {
    name = "owner_sort"
    type = "S"
  }

  attribute {
    name = "health_bucket"
    type = "S"
  }

  attribute {
    name = "health_due"
    type = "N"
  }

  attribute {
    name = "broken_bucket"
    type = "S"
  }

  attribute {
    name = "broken_since"
    type = "N"
  }

  global_secondary_index {
    name            = "expiry-index"
    hash_key        = "expiry_bucket"
    range_key       = "expires_at"
    projection_type = "KEYS_ONLY"
  }

  # A user's links, newest first (GET /api/links).
  global_secondary_index {
    name            = "owner-index"
    hash_key        = "owner_id"
    range_key       = "owner_sort"
    projection_type = "KEYS_ONLY"
  }

  # The link-health schedule: the links due for a check, leased by the workers.
  global_secondary_index {
    name            = "health-index"
    hash_key        = "health_bucket"
    range_key       = "health_due"
    projection_type = "KEYS_ONLY"
  }

  # Broken destinations, the longest broken first (the link_health_broken_links gauge).
  global_secondary_index {
    name            = "broken-index"
    hash_key        = "broken_bucket"
    range_key       = "broken_since"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    enabled        = true
    attribute_name = "ttl"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}

# The table had no count before store = "postgres" existed: keep existing deployments' table.
moved {
  from = aws_dynamodb_table.links
  to   = aws_dynamodb_table.links[0]
}
