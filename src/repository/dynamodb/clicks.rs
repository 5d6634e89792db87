//! Click analytics in DynamoDB. So far only the human and bot totals, kept on the link's item
//! (`human_clicks`, `bot_clicks`) by the same conditional update that counts the click, under
//! the same write mark. Hourly buckets and breakdowns are not kept on DynamoDB yet: their
//! reads answer unavailable (503) rather than a series of zeros that would look like no clicks.

use std::ops::Range;

use async_trait::async_trait;

use super::{DynamoDbRepository, unavailable};
use crate::domain::{ClickSplit, DimensionClicks, HourClicks, ShortCode};
use crate::repository::{ClickStatsStore, RepoError};

const NOT_YET: &str = "hourly and per-referrer click analytics are not kept on DynamoDB yet";

#[async_trait]
impl ClickStatsStore for DynamoDbRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("human_clicks, bot_clicks, deleted_at")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = output.item() else {
            return Ok(ClickSplit::default());
        };
        if item.contains_key("deleted_at") {
            return Ok(ClickSplit::default());
        }
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .map_or(Ok(0), |n| {
                    n.parse::<u64>()
                        .map_err(|_| RepoError::Corrupt(format!("{name} of link '{code}'")))
                })
        };
        Ok(ClickSplit {
            human: number("human_clicks")?,
            bot: number("bot_clicks")?,
        })
    }

    async fn click_hours(
        &self,
        _code: &ShortCode,
        _hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        Err(RepoError::Unavailable(NOT_YET.into()))
    }

    async fn click_breakdown(
        &self,
        _code: &ShortCode,
        _days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        Err(RepoError::Unavailable(NOT_YET.into()))
    }
}
