//! Requests in flight. At Pipedrive's latency a sync is as fast as the burst window allows only
//! if enough requests are out at once to fill it; too many only crowd the server and our threads.
//! So the client measures how long a request takes, tells the reader how many to keep ready
//! (`parallelism`), and never lets more than the user's `max_concurrent_requests` go at once.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The latency assumed before any answer came: the slow end of Pipedrive's 100–300 ms, so
/// that the first requests are not too few.
const ASSUMED_LATENCY: Duration = Duration::from_millis(300);
/// How much each answer moves the latency's moving average: enough to follow a change within
/// a dozen answers, little enough that one slow page does not swing it.
const LATENCY_WEIGHT: f64 = 0.2;
/// More ready than the average needs: latencies vary, and a request that is late to be ready
/// leaves a slot of the window unused.
const HEADROOM: f64 = 1.25;

/// The client's requests in flight: at most `cap` at once, let in the order they came, and the
/// moving average of how long an answer takes.
#[derive(Debug)]
pub(super) struct Flight {
    cap: usize,
    queue: Mutex<Queue>,
    moved: Condvar,
    /// Seconds, once an answer came.
    latency: Mutex<Option<f64>>,
}

/// Tickets, as at a counter: each request takes the next, and goes when fewer than `cap` of
/// the tickets before it are still out.
#[derive(Debug, Default)]
struct Queue {
    issued: u64,
    returned: u64,
}

/// A request's place among those in flight, given back when dropped.
#[must_use = "the place is given back as soon as it is dropped"]
pub(super) struct Place<'f> {
    flight: &'f Flight,
}

impl Flight {
    pub(super) fn new(cap: usize) -> Flight {
        Flight {
            cap: cap.max(1),
            queue: Mutex::default(),
            moved: Condvar::new(),
            latency: Mutex::new(None),
        }
    }

    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The counts stay whole even if a holder panicked: each change is one statement.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place, in turn, and takes it.
    pub(super) fn enter(&self) -> Place<'_> {
        let mut queue = self.queue();
        let ticket = queue.issued;
        queue.issued += 1;
        while ticket >= queue.returned + self.cap as u64 {
            queue = self.moved.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        Place { flight: self }
    }

    /// Requests holding a place now.
    pub(super) fn held(&self) -> usize {
        let queue = self.queue();
        let out = queue.issued - queue.returned;
        out.min(self.cap as u64) as usize
    }

    /// An answer took `took`, from sending the request to having its body.
    pub(super) fn answered(&self, took: Duration) {
        let took = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        *latency = Some(match *latency {
            None => took,
            Some(average) => average + LATENCY_WEIGHT * (took - average),
        });
    }

    pub(super) fn latency(&self) -> Option<Duration> {
        let latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        latency.map(Duration::from_secs_f64)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.flight.queue().returned += 1;
        // Every waiter looks: the one whose turn came goes, the others wait again.
        self.flight.moved.notify_all();
    }
}

/// How many requests to keep ready at once, to send `rate` requests a second when each is out
/// for `latency` (`None`: none answered yet, `ASSUMED_LATENCY`), with at most `cap` in flight.
///
/// By Little's law, the requests in a system are its throughput times the time each spends in
/// it: to have `rate` requests a second answered when each takes `latency`, `rate × latency`
/// must be out at once. Fewer, and slots of the burst window go unused while requests travel;
/// more only wait for a slot. A quarter more covers latencies above the average, and one more
/// the request that is being answered while the next is made ready. At least two, so that one
/// is ready while another travels; at most `cap`, the user's limit.
pub(super) fn parallelism(latency: Option<Duration>, rate: f64, cap: usize) -> usize {
    let latency = latency.unwrap_or(ASSUMED_LATENCY).as_secs_f64();
    let wanted = (latency * rate * HEADROOM).ceil();
    let wanted = if wanted.is_finite() && wanted < cap as f64 {
        wanted as usize + 1
    } else {
        cap
    };
    wanted.max(2).min(cap.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn parallelism_is_latency_times_rate_with_room() {
        // Nothing answered yet, the lowest plan's limit assumed (20 per 2 s): 0.3 s × 10/s ×
        // 1.25 = 3.75, so 4, and one more.
        assert_eq!(parallelism(None, 10.0, 100), 5);
        // An API token on Growth (40 per 2 s) at 150 ms: 0.15 × 20 × 1.25 = 3.75.
        assert_eq!(parallelism(Some(150 * MS), 20.0, 100), 5);
        // An OAuth app on Growth (160 per 2 s) at 220 ms: 0.22 × 80 × 1.25 = 22.
        assert_eq!(parallelism(Some(220 * MS), 80.0, 100), 23);
        // Ultimate with OAuth (480 per 2 s) at 300 ms wants 91: under the default cap.
        assert_eq!(parallelism(Some(300 * MS), 240.0, 100), 91);
        assert_eq!(parallelism(Some(300 * MS), 240.0, 30), 30, "the cap holds");
        assert_eq!(parallelism(Some(MS), 10.0, 100), 2, "never under two");
        assert_eq!(parallelism(Some(MS), 10.0, 1), 1, "nor over a cap of one");
        assert_eq!(parallelism(Some(Duration::MAX), 10.0, 7), 7);
    }

    #[test]
    fn latency_is_a_moving_average_of_answers() {
        let f = Flight::new(4);
        assert_eq!(f.latency(), None);
        f.answered(100 * MS);
        assert_eq!(f.latency(), Some(100 * MS));
        f.answered(200 * MS);
        let l = f.latency().unwrap().as_secs_f64();
        assert!((l - 0.120).abs() < 1e-9, "{l}");
    }

    /// None past the cap; places are taken in the order requests came, and one is free again
    /// as soon as its holder drops it.
    #[test]
    fn places_go_in_turn_up_to_the_cap() {
        let f = Flight::new(2);
        let a = f.enter();
        let b = f.enter();
        assert_eq!(f.held(), 2);
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for n in 0..3 {
                let (f, order) = (&f, &order);
                s.spawn(move || {
                    let _place = f.enter();
                    order.lock().unwrap().push(n);
                });
                // Each queues before the next comes.
                while f.queue().issued < 3 + n {
                    std::thread::yield_now();
                }
            }
            std::thread::sleep(20 * MS);
            assert!(order.lock().unwrap().is_empty(), "none past the cap");
            assert_eq!(f.held(), 2);
            // With `b` still held, one place: the three go one after the other, in turn.
            drop(a);
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(f.held(), 1);
        drop(b);
        assert_eq!(f.held(), 0);
    }
}
