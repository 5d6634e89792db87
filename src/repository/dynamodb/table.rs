//! Creating the table and its indexes, where `storage.dynamodb.create_table` asks for it, and
//! waiting until they are active.

use super::*;

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, RepoError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(unavailable)
}

/// One of the table's global secondary indexes, all keys only.
struct Index {
    name: &'static str,
    hash: (&'static str, ScalarAttributeType),
    range: (&'static str, ScalarAttributeType),
}

impl Index {
    fn definition(&self) -> Result<GlobalSecondaryIndex, RepoError> {
        keys_only_index(self.name, self.hash.0, self.range.0)
    }
}

/// Every index the service queries (README "Storage" / DynamoDB; Terraform makes the same).
const INDEXES: [Index; 4] = [
    Index {
        name: EXPIRY_INDEX,
        hash: ("expiry_bucket", ScalarAttributeType::S),
        range: ("expires_at", ScalarAttributeType::N),
    },
    Index {
        name: OWNER_INDEX,
        hash: ("owner_id", ScalarAttributeType::S),
        range: ("owner_sort", ScalarAttributeType::S),
    },
    Index {
        name: link_health::HEALTH_INDEX,
        hash: ("health_bucket", ScalarAttributeType::S),
        range: ("health_due", ScalarAttributeType::N),
    },
    Index {
        name: link_health::BROKEN_INDEX,
        hash: ("broken_bucket", ScalarAttributeType::S),
        range: ("broken_since", ScalarAttributeType::N),
    },
];

/// The definition of attribute `name` of type `kind` (a key of the table or of an index).
fn attribute((name, kind): &(&str, ScalarAttributeType)) -> Result<AttributeDefinition, RepoError> {
    AttributeDefinition::builder()
        .attribute_name(*name)
        .attribute_type(kind.clone())
        .build()
        .map_err(unavailable)
}

/// A global secondary index named `name` on (`hash`, `range`) that projects only the keys.
fn keys_only_index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, RepoError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_element(hash, KeyType::Hash)?)
        .key_schema(key_element(range, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(unavailable)
}

impl DynamoDbRepository {
    pub(super) async fn create_table(&self) -> Result<(), RepoError> {
        let mut create = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute(&("short_code", ScalarAttributeType::S))?)
            .key_schema(key_element("short_code", KeyType::Hash)?)
            .billing_mode(BillingMode::PayPerRequest);
        for index in &INDEXES {
            create = create
                .attribute_definitions(attribute(&index.hash)?)
                .attribute_definitions(attribute(&index.range)?)
                .global_secondary_indexes(index.definition()?);
        }
        match create.send().await {
            Ok(_) => tracing::info!(table = %self.table, "created DynamoDB table"),
            Err(e) if e.code() == Some("ResourceInUseException") => {
                tracing::debug!(table = %self.table, "DynamoDB table exists");
                return self.add_missing_indexes().await;
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.wait_until_active().await?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(unavailable)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn describe(
        &self,
    ) -> Result<aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput, RepoError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(unavailable)
    }

    /// Waits (at most a minute) for the table and its indexes to be active: DynamoDB takes
    /// one index change at a time.
    async fn wait_until_active(&self) -> Result<(), RepoError> {
        for _ in 0..120 {
            let described = self.describe().await?;
            let table = described.table();
            let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active)
                && table.is_some_and(|t| {
                    t.global_secondary_indexes()
                        .iter()
                        .all(|i| i.index_status() == Some(&IndexStatus::Active))
                });
            if active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(RepoError::Unavailable(format!(
            "DynamoDB table {} did not become active within a minute",
            self.table
        )))
    }

    /// Adds the indexes a table made by an older version lacks, one at a time (development
    /// tables only: `create_table`; production tables get them from Terraform).
    async fn add_missing_indexes(&self) -> Result<(), RepoError> {
        for index in &INDEXES {
            let described = self.describe().await?;
            let has_it = described
                .table()
                .map(|t| t.global_secondary_indexes())
                .is_some_and(|all| all.iter().any(|i| i.index_name() == Some(index.name)));
            if has_it {
                continue;
            }
            let built = index.definition()?;
            let create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(index.name)
                .set_key_schema(Some(built.key_schema().to_vec()))
                .set_projection(built.projection().cloned())
                .build()
                .map_err(unavailable)?;
            self.client
                .update_table()
                .table_name(&self.table)
                .attribute_definitions(attribute(&index.hash)?)
                .attribute_definitions(attribute(&index.range)?)
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(create).build(),
                )
                .send()
                .await
                .map_err(unavailable)?;
            tracing::info!(table = %self.table, index = index.name, "added an index to the DynamoDB table");
            self.wait_until_active().await?;
        }
        Ok(())
    }
}
