//! A thread fed work items in order through a bounded queue, handing each item
//! back once done with it so its allocation is reused, and returning a result
//! when the queue closes. The writer's two threads (compressing records,
//! writing the file) are built on it.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// The owner's end of a [`QueueThread`]'s queue, as seen by the thread.
pub struct Inbox<T> {
    queued: Receiver<T>,
    recycle: SyncSender<T>,
}

impl<T> Inbox<T> {
    /// The next item, or `None` once the owner is done.
    pub fn next(&self) -> Option<T> {
        self.queued.recv().ok()
    }

    /// Gives an item (cleared) back to the owner for reuse; freed if the owner has enough spares.
    pub fn recycle(&self, item: T) {
        let _ = self.recycle.try_send(item);
    }
}

/// A thread working through the items sent to it, with `E` its error type.
pub struct QueueThread<T, R, E> {
    full: Option<SyncSender<T>>,
    empty: Receiver<T>,
    thread: Option<JoinHandle<Result<R, E>>>,
    /// The error reported when the thread is gone without one of its own.
    gone: fn(&str) -> E,
}

impl<T: Send + 'static, R: Send + 'static, E: Send + 'static> QueueThread<T, R, E> {
    /// Starts thread `name` running `work`; at most `queue` items wait for it before
    /// [`send`](Self::send) blocks.
    pub fn spawn(
        name: &str,
        queue: usize,
        gone: fn(&str) -> E,
        work: impl FnOnce(Inbox<T>) -> Result<R, E> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (full, queued) = sync_channel::<T>(queue);
        let (recycle, empty) = sync_channel::<T>(queue + 2);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(Inbox { queued, recycle }))?;
        Ok(QueueThread {
            full: Some(full),
            empty,
            thread: Some(thread),
            gone,
        })
    }

    /// An item the thread is done with, if any.
    pub fn spare(&self) -> Option<T> {
        self.empty.try_recv().ok()
    }

    /// Queues `item`. When the thread has stopped at an error, that error is returned.
    pub fn send(&mut self, item: T) -> Result<(), E> {
        let sent = self
            .full
            .as_ref()
            .is_some_and(|full| full.send(item).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self
                .join()
                .err()
                .unwrap_or_else(|| (self.gone)("has stopped")))
        }
    }

    fn join(&mut self) -> Result<R, E> {
        self.full = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err((self.gone)("panicked"))),
            None => Err((self.gone)("has stopped")),
        }
    }

    /// Closes the queue, waits for the thread and returns its result.
    pub fn finish(mut self) -> Result<R, E> {
        self.join()
    }
}

impl<T, R, E> Drop for QueueThread<T, R, E> {
    /// Waits for the thread, so that none of its work outlives its owner (an aborted writer
    /// removes its file right after).
    fn drop(&mut self) {
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(what: &str) -> String {
        format!("the thread {what}")
    }

    #[test]
    fn items_are_worked_in_order_and_handed_back() {
        let mut t = QueueThread::spawn("test", 2, gone, |inbox: Inbox<Vec<u32>>| {
            let mut seen = Vec::new();
            while let Some(mut item) = inbox.next() {
                seen.extend_from_slice(&item);
                item.clear();
                inbox.recycle(item);
            }
            Ok(seen)
        })
        .unwrap();
        for i in 0..100u32 {
            let mut item = t.spare().unwrap_or_default();
            assert!(item.is_empty());
            item.push(i);
            t.send(item).unwrap();
        }
        // The last item comes back once worked (waited for, within a bound).
        let back = (0..1000).find_map(|_| {
            t.spare().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                None
            })
        });
        assert!(back.is_some_and(|v| v.is_empty() && v.capacity() > 0));
        assert_eq!(t.finish().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_threads_error_is_what_send_and_finish_report() {
        let mut t = QueueThread::spawn("test", 1, gone, |inbox: Inbox<u32>| {
            while let Some(item) = inbox.next() {
                if item == 3 {
                    return Err(format!("item {item} failed"));
                }
            }
            Ok(())
        })
        .unwrap();
        let mut error = None;
        for i in 0..100 {
            if let Err(e) = t.send(i) {
                error = Some(e);
                break;
            }
        }
        let error = error.or_else(|| t.finish().err());
        assert_eq!(error.as_deref(), Some("item 3 failed"));
    }

    #[test]
    fn a_panic_on_the_thread_is_an_error_not_a_panic() {
        let t = QueueThread::<u32, (), String>::spawn("test", 1, gone, |_| panic!("boom")).unwrap();
        assert_eq!(t.finish().unwrap_err(), "the thread panicked");
    }

    #[test]
    fn dropping_waits_for_the_thread() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;
        let done = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&done);
        let mut t = QueueThread::spawn("test", 4, gone, move |inbox: Inbox<u32>| {
            while let Some(item) = inbox.next() {
                std::thread::sleep(std::time::Duration::from_millis(5));
                seen.fetch_add(item, Ordering::SeqCst);
            }
            Ok::<(), String>(())
        })
        .unwrap();
        for _ in 0..4 {
            t.send(1).unwrap();
        }
        drop(t);
        assert_eq!(done.load(Ordering::SeqCst), 4);
    }
}
