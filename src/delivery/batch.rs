//! Group commit: many tasks hand in small writes, one task writes them
//! together in one transaction. Under load this turns one commit per message
//! into one per batch; when idle a write goes out at once, alone.

use std::{future::Future, sync::Arc};

use tokio::sync::{mpsc, oneshot};

use crate::storage::{StorageError, StorageResult};

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<(), Arc<StorageError>>>;

/// Handle for submitting writes; cheap to clone.
pub struct Batcher<T> {
    /// Each submission: items written together, and who waits for them.
    sender: mpsc::UnboundedSender<(Vec<T>, Reply)>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self { sender: self.sender.clone() }
    }
}

impl<T> std::fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

/// Why a submitted write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Storage(Arc<StorageError>),
    #[error("the writer stopped")]
    Stopped,
}

impl<T: Clone + Send + 'static> Batcher<T> {
    /// Starts the writer task. `write` stores a batch in one transaction; if
    /// a batch fails, each submission in it is written on its own, so one bad
    /// submission cannot hold back the others. The task ends when every handle is gone.
    pub fn spawn<F, Fut>(write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = StorageResult<()>> + Send,
    {
        let (sender, mut receiver) = mpsc::unbounded_channel::<(Vec<T>, Reply)>();
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let items: Vec<T> = batch.iter().flat_map(|(items, _)| items.iter().cloned()).collect();
                match write(items).await {
                    Ok(()) => {
                        for (_, reply) in batch {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Err(error) if batch.len() == 1 => {
                        if let Some((_, reply)) = batch.pop() {
                            let _ = reply.send(Err(Arc::new(error)));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, size = batch.len(), "a batched write failed; writing its items one by one");
                        for (items, reply) in batch {
                            let _ = reply.send(write(items).await.map_err(Arc::new));
                        }
                    }
                }
            }
        });
        Self { sender }
    }

    /// Submits `item` and waits until it is written (with others).
    pub async fn submit(&self, item: T) -> Result<(), BatchError> {
        self.submit_all(vec![item]).await
    }

    /// Submits `items`, always written in the same transaction (with
    /// others'), and waits until they are.
    pub async fn submit_all(&self, items: Vec<T>) -> Result<(), BatchError> {
        let (reply, written) = oneshot::channel();
        self.sender.send((items, reply)).map_err(|_| BatchError::Stopped)?;
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(BatchError::Storage(error)),
            Err(_) => Err(BatchError::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn concurrent_writes_share_transactions_and_a_bad_item_fails_alone() {
        let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let seen = batches.clone();
        let batcher = Batcher::spawn(move |items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(items.clone());
                if items.contains(&13) { Err(StorageError::Corrupt("unlucky".into())) } else { Ok(()) }
            }
        });
        let results = futures::future::join_all((0..40).map(|i| {
            let b = batcher.clone();
            async move { (i, b.submit(i).await) }
        }))
        .await;
        for (i, result) in results {
            assert_eq!(result.is_ok(), i != 13, "item {i}");
        }
        let batches = batches.lock().unwrap();
        assert!(batches.iter().any(|b| b.len() > 1), "some writes were grouped: {batches:?}");
    }
}
