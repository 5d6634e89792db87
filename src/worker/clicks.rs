//! The click pipeline of one process, connected before its services are built: the
//! [`ClickPipe`] its redirects push into, and what its loops carry to the store — the memory
//! queue's buffer ([`super::click_flusher`]), or the Redis queue's outbox and stream
//! ([`super::click_publisher`], [`super::click_processor`]).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ClickQueueKind, ClickSettings, redact_password};
use crate::repository::{RedisClickStream, RepoError};
use crate::service::{ClickBuffer, ClickOutbox, ClickPipe};

/// A connected click pipeline.
pub struct ClickPipeline {
    pub(super) pipe: ClickPipe,
    /// The Redis queue's stream; `None` with the memory queue.
    pub(super) stream: Option<Arc<RedisClickStream>>,
    /// Whether this process answers redirects (so it has clicks of its own to carry).
    pub(super) serving: bool,
}

impl ClickPipeline {
    /// Connects the pipeline `clicks` describe. With the memory queue, a buffer; with the
    /// Redis queue, the stream, an outbox when the process is `serving` and processor
    /// counters when it runs `workers`.
    ///
    /// # Errors
    /// When the Redis of `clicks.redis_url` cannot be reached (the message names the key).
    pub async fn connect(
        clicks: &ClickSettings,
        workers: bool,
        serving: bool,
    ) -> Result<Self, RepoError> {
        let buffer = Arc::new(ClickBuffer::new(
            clicks.max_pending_codes,
            clicks.flush_threshold,
        ));
        if clicks.queue == ClickQueueKind::Memory {
            return Ok(Self {
                pipe: ClickPipe::memory(buffer),
                stream: None,
                serving,
            });
        }
        let stream = RedisClickStream::connect(
            &clicks.redis_url,
            &clicks.redis_key_prefix,
            clicks.stream_max_len,
            Duration::from_millis(clicks.redis_timeout_ms),
        )
        .await
        .map_err(|e| {
            RepoError::Unavailable(format!(
                "clicks.redis_url: cannot use {}: {e}",
                redact_password(&clicks.redis_url)
            ))
        })?;
        let outbox = serving.then(|| Arc::new(ClickOutbox::new(clicks.outbox_capacity)));
        let pipe = ClickPipe {
            queue: match &outbox {
                Some(outbox) => outbox.clone(),
                // No redirects here: nothing is ever pushed.
                None => buffer.clone(),
            },
            buffer,
            outbox,
            processor: workers.then(Arc::default),
        };
        Ok(Self {
            pipe,
            stream: Some(Arc::new(stream)),
            serving,
        })
    }

    /// What the services push into and the metrics read.
    pub fn pipe(&self) -> ClickPipe {
        self.pipe.clone()
    }
}
