//! Requests of one stream side by side. At Pipedrive's latency a stream read one request after
//! the other uses a sliver of the burst window: the window allows tens of requests per second,
//! while one chain of requests makes three to ten. So the engine runs what does not depend on
//! an earlier answer at the same time (the child batches of a page of parents, the next page of
//! parents, the time slices of a long list), and the one HTTP client keeps them to the window.
//!
//! The rules that keep this as safe as reading in turn: records of one stream are written under
//! one lock, and a STATE is written only once every record it covers is (each caller says when
//! that is: after the children of a page, or at the earliest slice still being read).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use anyhow::{anyhow, Result};

use serde_json::Value;

use super::interfaces::Sink;
use crate::http::Client;
use crate::streams::record::Record;

/// How many requests of one stream to have going at once: what keeps the burst window full at
/// the latency the client measures, as the client says.
pub(super) fn width(client: &Client) -> usize {
    client.parallelism().max(1)
}

/// Runs `task` on each item on up to `threads` threads, starting them in order, and gives back
/// each item's result in the items' order. Once a result is `failed`, items not yet started are
/// left out (`None`): what was asked after a failure in turn would not have been asked either.
pub(super) fn each<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    failed: impl Fn(&R) -> bool + Sync,
    task: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let work = || {
        while !stop.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = task(item);
            if failed(&r) {
                stop.store(true, Ordering::Relaxed);
            }
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    };
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Runs `produce` on a thread of its own while `consume` takes what it hands over, one item
/// ahead at most: the next page of a list is asked for while the last one's children are. The
/// consumer's failure comes first (the producer stops at its next item, as it would have in
/// turn); else the producer's result.
pub(super) fn ahead<P: Send, X: Send>(
    produce: impl FnOnce(&mut dyn FnMut(P) -> Result<()>) -> Result<X> + Send,
    mut consume: impl FnMut(P) -> Result<()>,
) -> Result<X> {
    let (tx, rx) = mpsc::sync_channel::<P>(1);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut hand = |p: P| {
                tx.send(p)
                    .map_err(|_| anyhow!("the reader of these pages stopped"))
            };
            produce(&mut hand)
        });
        let mut consumed = Ok(());
        for p in rx.iter() {
            consumed = consume(p);
            if consumed.is_err() {
                break;
            }
        }
        drop(rx);
        let produced = producer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        consumed?;
        produced
    })
}

/// The one stdout writer of a worker, shared by the threads of its streams: each message is
/// written whole under the lock.
pub(super) struct SharedSink<'s>(Mutex<&'s mut dyn Sink>);

impl<'s> SharedSink<'s> {
    pub(super) fn new(out: &'s mut dyn Sink) -> SharedSink<'s> {
        SharedSink(Mutex::new(out))
    }

    /// A writer for one thread.
    pub(super) fn handle(&self) -> Handle<'_, 's> {
        Handle(&self.0)
    }
}

/// One thread's way to the shared writer.
pub(super) struct Handle<'h, 's>(&'h Mutex<&'s mut dyn Sink>);

impl Handle<'_, '_> {
    fn with<T>(&self, f: impl FnOnce(&mut dyn Sink) -> T) -> T {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut **out)
    }
}

impl Sink for Handle<'_, '_> {
    fn record(&mut self, stream: &str, record: &Record) -> std::io::Result<()> {
        self.with(|out| out.record(stream, record))
    }
    fn record_value(&mut self, stream: &str, record: &Value) -> std::io::Result<()> {
        self.with(|out| out.record_value(stream, record))
    }
    fn state(&mut self, stream: &str, state: Value, since: u64) -> std::io::Result<()> {
        self.with(|out| out.state(stream, state, since))
    }
    fn full_refresh_states(&self) -> bool {
        self.with(|out| out.full_refresh_states())
    }
    fn full_table_complete(&mut self, stream: &str) -> std::io::Result<()> {
        self.with(|out| out.full_table_complete(stream))
    }
    fn deleted_at(&self) -> &'static str {
        self.with(|out| out.deleted_at())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_a_failure_stops_what_has_not_started() {
        let items: Vec<u32> = (0..50).collect();
        let got = each(
            8,
            &items,
            |_: &Result<u32, ()>| false,
            |i| {
                std::thread::sleep(std::time::Duration::from_millis(u64::from(50 - i) % 7));
                Ok(i * 2)
            },
        );
        let want: Vec<Option<Result<u32, ()>>> = items.iter().map(|i| Some(Ok(i * 2))).collect();
        assert_eq!(got, want);
        // One thread: after item 3 fails, nothing else starts.
        let got = each(1, &items, Result::is_err, |i| {
            if *i == 3 {
                Err(())
            } else {
                Ok(*i)
            }
        });
        assert_eq!(got.iter().filter(|r| r.is_some()).count(), 4);
        assert_eq!(got[3], Some(Err(())));
    }
}
