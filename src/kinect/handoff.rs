//! The bounded hand-off between the camera thread and the Redis writer. The camera never
//! waits: when the queue is full the oldest frame is dropped (the newest is what consumers
//! want), and the caller counts it.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::frame::Frame;

pub struct Handoff {
    state: Mutex<State>,
    ready: Notify,
    closed: Notify,
    capacity: usize,
}

struct State {
    frames: VecDeque<Frame>,
    closed: bool,
}

impl Handoff {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Handoff {
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            ready: Notify::new(),
            closed: Notify::new(),
            capacity,
        }
    }

    /// Queues a frame; returns how many old frames were dropped to make room (0 or 1).
    pub fn push(&self, frame: Frame) -> u64 {
        let dropped = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let dropped = if s.frames.len() >= self.capacity {
                s.frames.pop_front();
                1
            } else {
                0
            };
            s.frames.push_back(frame);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    /// The oldest queued frame; waits while the queue is empty; `None` once closed and empty.
    pub async fn pop(&self) -> Option<Frame> {
        loop {
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(f) = s.frames.pop_front() {
                    return Some(f);
                }
                if s.closed {
                    return None;
                }
            }
            // notify_one stores a permit when nobody waits, so a push between the check and
            // this await is not lost.
            self.ready.notified().await;
        }
    }

    /// No more frames will come; `pop` drains what is left and then returns `None`.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_one();
        self.closed.notify_waiters();
    }

    /// Returns once `close` has been called.
    pub async fn wait_closed(&self) {
        let notified = self.closed.notified();
        tokio::pin!(notified);
        // registered before the check, so a close in between still wakes us
        notified.as_mut().enable();
        if !self.is_closed() {
            notified.await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed
    }

    pub fn queued(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .frames
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            device_ts_usec: 0,
            host_ts_ns: 0,
            captured_at: Instant::now(),
            depth: None,
            color: None,
            ir: None,
        }
    }

    #[tokio::test]
    async fn full_queue_drops_the_oldest_and_keeps_order() {
        let h = Handoff::new(2);
        assert_eq!(h.push(frame(1)), 0);
        assert_eq!(h.push(frame(2)), 0);
        assert_eq!(h.push(frame(3)), 1);
        h.close();
        assert_eq!(h.pop().await.map(|f| f.seq), Some(2));
        assert_eq!(h.pop().await.map(|f| f.seq), Some(3));
        assert!(h.pop().await.is_none());
    }

    #[tokio::test]
    async fn pop_wakes_on_a_push_from_another_thread() {
        let h = std::sync::Arc::new(Handoff::new(4));
        let pusher = h.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            pusher.push(frame(7));
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), h.pop()).await;
        assert_eq!(got.ok().flatten().map(|f| f.seq), Some(7));
    }
}
