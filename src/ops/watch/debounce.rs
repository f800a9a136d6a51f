//! Debounce: a burst of saves is one action. Changes are collected until [`QUIET`] passes
//! without a new one; the batch holds each change once.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

/// How long a service's changes must be quiet before they are acted on.
pub const QUIET: Duration = Duration::from_millis(150);

/// The next batch: waits for a first change, then takes changes until `quiet` passes without
/// one. `None` once the sender is gone (a batch in progress is dropped: the watch is ending).
pub(crate) async fn next_batch<T: Ord>(
    rx: &mut UnboundedReceiver<T>,
    quiet: Duration,
) -> Option<BTreeSet<T>> {
    let first = rx.recv().await?;
    let mut batch = BTreeSet::from([first]);
    loop {
        match tokio::time::timeout(quiet, rx.recv()).await {
            Ok(Some(p)) => {
                batch.insert(p);
            }
            Ok(None) => return None,
            Err(_) => return Some(batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    const Q: Duration = Duration::from_millis(100);

    // Paused time: the clock advances only when every task waits, so the timings are exact.
    #[tokio::test(start_paused = true)]
    async fn a_burst_closer_than_the_quiet_time_is_one_batch_each_change_once() {
        let (tx, mut rx) = unbounded_channel();
        let sender = tokio::spawn(async move {
            for i in [1, 2, 2, 3, 1] {
                tx.send(i).unwrap();
                tokio::time::sleep(Q / 4).await;
            }
            // Kept open past the batch, so the batch ends by quiet, not by the close.
            tokio::time::sleep(Q * 3).await;
            drop(tx);
        });
        let batch = next_batch(&mut rx, Q).await;
        assert_eq!(batch, Some(BTreeSet::from([1, 2, 3])));
        assert_eq!(next_batch(&mut rx, Q).await, None, "then the close");
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_the_quiet_time_splits_the_changes() {
        let (tx, mut rx) = unbounded_channel();
        let sender = tokio::spawn(async move {
            tx.send("a").unwrap();
            tokio::time::sleep(Q * 3).await;
            tx.send("b").unwrap();
            tx.send("c").unwrap();
            tokio::time::sleep(Q * 3).await;
        });
        assert_eq!(next_batch(&mut rx, Q).await, Some(BTreeSet::from(["a"])));
        assert_eq!(
            next_batch(&mut rx, Q).await,
            Some(BTreeSet::from(["b", "c"]))
        );
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_batch_waits_for_quiet_after_the_last_change_not_the_first() {
        let (tx, mut rx) = unbounded_channel();
        let sender = tokio::spawn(async move {
            // 8 changes, Q/2 apart: 4 Q in all, longer than Q but never Q quiet.
            for i in 0..8 {
                tx.send(i).unwrap();
                tokio::time::sleep(Q / 2).await;
            }
            tokio::time::sleep(Q * 3).await;
        });
        let batch = next_batch(&mut rx, Q).await.unwrap();
        assert_eq!(batch.len(), 8, "{batch:?}");
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_loop_and_drops_a_partial_batch() {
        let (tx, mut rx) = unbounded_channel::<u8>();
        drop(tx);
        assert_eq!(next_batch(&mut rx, Q).await, None);
        let (tx, mut rx) = unbounded_channel::<u8>();
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(next_batch(&mut rx, Q).await, None);
    }
}
