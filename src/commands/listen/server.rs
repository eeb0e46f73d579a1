//! The listener's sockets, bounded for the open internet: one thread accepts, each connection
//! gets a thread of its own (so a slow or silent peer holds up no one else) within a fixed
//! number of slots (threads are kept a while for the next connections: starting one costs more
//! than a delivery), and every request has one deadline for its head and body together, however
//! its bytes trickle in. When every slot is taken, the oldest connection that has not proved its
//! credentials (still reading its head, or being turned away) is closed to make room, so slow
//! clients can neither fill the listener nor keep Pipedrive's deliveries out; deliveries that
//! did prove them are never closed for room.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::request::{self, Conn, Ending, MAX_BODY};

/// Connections held at once, by default; each costs a thread (mostly waiting) and at most
/// `MAX_HEAD` bytes of buffer until its credentials are checked.
pub const MAX_CONNECTIONS: usize = 512;
/// From accepting a connection to having its whole request, head and body: Pipedrive sends a
/// delivery at once and gives up on an answer after 10 s.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// How long an answer may take to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A thread with no connection to serve for this long ends: after a burst (an attack's
/// hundreds of connections) the threads go, while steady deliveries keep theirs.
const IDLE_THREAD: Duration = Duration::from_secs(10);
/// A connection's thread needs little stack: bodies and records live on the heap, and JSON
/// nesting is bounded by serde_json.
const STACK: usize = 512 * 1024;

impl Conn for &TcpStream {
    fn limit(&mut self, left: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(left.max(Duration::from_millis(1))))
    }
}

/// The open connections, oldest first (ids grow with each accept).
pub struct Slots {
    max: usize,
    open: Mutex<BTreeMap<u64, Slot>>,
}

struct Slot {
    conn: Arc<TcpStream>,
    /// Whether it may be closed to make room: until its credentials are checked, and once
    /// it is being turned away.
    closable: bool,
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max: max.max(1),
            open: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Slot>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for `conn` under `id`, closing the oldest closable connection when every
    /// slot is taken; `false` when none can be closed.
    fn take(&self, id: u64, conn: &Arc<TcpStream>) -> bool {
        let mut open = self.lock();
        if open.len() >= self.max {
            let Some(oldest) = open.iter().find(|(_, s)| s.closable).map(|(id, _)| *id) else {
                return false;
            };
            if let Some(slot) = open.remove(&oldest) {
                // Its thread's read ends at once and it goes.
                let _ = slot.conn.shutdown(Shutdown::Both);
            }
        }
        open.insert(
            id,
            Slot {
                conn: Arc::clone(conn),
                closable: true,
            },
        );
        true
    }

    /// Marks connection `id` as not to be closed for room; `false` if it was closed already.
    pub fn keep(&self, id: u64) -> bool {
        match self.lock().get_mut(&id) {
            Some(slot) => {
                slot.closable = false;
                true
            }
            None => false,
        }
    }

    fn closable(&self, id: u64) {
        if let Some(slot) = self.lock().get_mut(&id) {
            slot.closable = true;
        }
    }

    fn free(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Connections open now.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().len()
    }
}

/// A connection's slot, freed when its job ends, however it ends: a handler that panics must
/// not keep a slot (and its socket) for good.
struct Held {
    slots: Arc<Slots>,
    id: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.slots.free(self.id);
    }
}

/// What the server asks of the program for each connection: read the request before the
/// deadline and answer it (`request::exchange`), calling `keep` once the credentials are right.
pub type Handler = dyn Fn(&TcpStream, Instant, &mut dyn FnMut() -> bool) -> Ending + Send + Sync;

/// Accepts connections until the listener fails for good, each on a thread of its own.
pub fn serve(listener: TcpListener, slots: Arc<Slots>, handler: Arc<Handler>) {
    let threads = Arc::new(Threads::default());
    let mut next = 0u64;
    loop {
        let conn = match listener.accept() {
            Ok((conn, _)) => conn,
            // Out of file descriptors, or a connection reset before it was taken: the next
            // accept may work; a pause keeps a lasting failure from spinning.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let accepted = Instant::now();
        let conn = Arc::new(conn);
        next += 1;
        let id = next;
        if !slots.take(id, &conn) {
            busy(&conn);
            continue;
        }
        let (slots_for_job, handler, conn_for_job) =
            (Arc::clone(&slots), Arc::clone(&handler), Arc::clone(&conn));
        let job = Box::new(move || {
            let held = Held {
                slots: slots_for_job,
                id,
            };
            let conn = conn_for_job;
            let _ = conn.set_write_timeout(Some(WRITE_TIMEOUT));
            let ending = handler(&conn, accepted + DEADLINE, &mut || held.slots.keep(id));
            if let Ending::Refused { authenticated, .. } = ending {
                held.slots.closable(id);
                linger(&conn, authenticated);
            }
        });
        if !threads.run(job) {
            slots.free(id);
            busy(&conn);
        }
    }
}

/// Work for a connection's thread.
type Job = Box<dyn FnOnce() + Send>;

/// The connections' threads: a job goes to a thread waiting for one, or to a new thread. How
/// many run at once is bounded by the slots (one job per open connection); a thread that waits
/// `IDLE_THREAD` for a job ends.
#[derive(Default)]
struct Threads {
    state: Mutex<Waiting>,
    job_ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    /// Jobs handed to waiting threads and not yet taken.
    jobs: VecDeque<Job>,
    /// Threads waiting, less the jobs waiting for them: a job is only queued when this is
    /// above zero, so it never waits behind a running job.
    idle: usize,
}

impl Threads {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` on a waiting thread, or a new one; `false` if no thread could be started.
    fn run(self: &Arc<Self>, job: Job) -> bool {
        {
            let mut waiting = self.lock();
            if waiting.idle > 0 {
                waiting.idle -= 1;
                waiting.jobs.push_back(job);
                self.job_ready.notify_one();
                return true;
            }
        }
        let threads = Arc::clone(self);
        std::thread::Builder::new()
            .name("connection".into())
            .stack_size(STACK)
            .spawn(move || threads.work(job))
            .is_ok()
    }

    fn work(&self, first: Job) {
        let mut job = first;
        loop {
            job();
            let mut waiting = self.lock();
            waiting.idle += 1;
            job = loop {
                if let Some(next) = waiting.jobs.pop_front() {
                    break next;
                }
                let (guard, wait) = self
                    .job_ready
                    .wait_timeout(waiting, IDLE_THREAD)
                    .unwrap_or_else(|e| e.into_inner());
                waiting = guard;
                if wait.timed_out() && waiting.jobs.is_empty() {
                    waiting.idle -= 1;
                    return;
                }
            };
        }
    }
}

/// Turns a connection away at once: no slot is free and none can be made, or no thread.
fn busy(mut conn: &TcpStream) {
    let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = request::respond(&mut conn, 503, "busy");
    let _ = conn.shutdown(Shutdown::Both);
}

/// After a refusal, reads (and drops) what the peer is still sending for a moment before
/// closing: closing with unread bytes resets the connection, and the peer could lose the
/// answer. A sender with the right credentials whose body is too large gets more room.
fn linger(mut conn: &TcpStream, authenticated: bool) {
    let (mut budget, time) = if authenticated {
        (8 * MAX_BODY, Duration::from_secs(2))
    } else {
        (64 * 1024, Duration::from_secs(1))
    };
    let _ = conn.shutdown(Shutdown::Write);
    let until = Instant::now() + time;
    let mut sink = [0u8; 8192];
    while budget > 0 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.limit(left).is_err() {
            return;
        }
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(listener: &TcpListener) -> (TcpStream, Arc<TcpStream>) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, Arc::new(server))
    }

    #[test]
    fn a_job_never_waits_behind_a_running_one_and_threads_are_reused() {
        use std::sync::mpsc;
        let threads = Arc::new(Threads::default());
        let (done, finished) = mpsc::channel();
        // A job that holds its thread until told, as a slow client does.
        let (release, held) = mpsc::channel::<()>();
        let tx = done.clone();
        assert!(threads.run(Box::new(move || {
            held.recv().unwrap();
            tx.send(std::thread::current().id()).unwrap();
        })));
        let mut second = std::collections::HashSet::new();
        for _ in 0..3 {
            let tx = done.clone();
            assert!(threads.run(Box::new(move || {
                tx.send(std::thread::current().id()).unwrap();
            })));
            // Done while the first still holds its thread.
            second.insert(finished.recv_timeout(Duration::from_secs(30)).unwrap());
            // Its thread waits for the next job before that one is given.
            while threads.lock().idle < 1 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(second.len(), 1, "one more thread, reused");
        release.send(()).unwrap();
        finished.recv_timeout(Duration::from_secs(30)).unwrap();
        // Once both threads wait, jobs go to them: no third thread is started.
        while threads.lock().idle < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let tx = done.clone();
            assert!(threads.run(Box::new(move || {
                tx.send(std::thread::current().id()).unwrap();
            })));
            seen.insert(finished.recv_timeout(Duration::from_secs(30)).unwrap());
            while threads.lock().idle < 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(seen.len() <= 2, "{} threads", seen.len());
    }

    #[test]
    fn a_handler_that_panics_frees_its_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let slots = Arc::new(Slots::new(2));
        let handler: Arc<Handler> = Arc::new(
            |_: &TcpStream, _: Instant, keep: &mut dyn FnMut() -> bool| {
                assert!(keep());
                panic!("a bug in a delivery's handling");
            },
        );
        let serving = Arc::clone(&slots);
        std::thread::spawn(move || serve(listener, serving, handler));
        // More connections than slots, one after the other: each finds its slot free again,
        // none is turned away busy.
        for _ in 0..5 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut answer = Vec::new();
            let _ = c.read_to_end(&mut answer);
            assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        }
        let freed = Instant::now();
        while slots.count() > 0 {
            assert!(
                freed.elapsed() < Duration::from_secs(30),
                "a slot is still held"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_oldest_closable_connection_makes_room() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = Slots::new(3);
        let (mut c1, s1) = pair(&listener);
        let (_c2, s2) = pair(&listener);
        let (_c3, s3) = pair(&listener);
        assert!(slots.take(1, &s1) && slots.take(2, &s2) && slots.take(3, &s3));
        // The first proved its credentials: the second is the oldest that may be closed.
        assert!(slots.keep(1));
        let (_c4, s4) = pair(&listener);
        assert!(slots.take(4, &s4));
        assert_eq!(slots.count(), 3);
        assert!(!slots.keep(2), "the second was closed for room");
        let mut byte = [0u8; 1];
        assert_eq!((&*s2).read(&mut byte).unwrap(), 0, "its socket is shut");
        assert!(slots.keep(3) && slots.keep(4));
        // Every slot is kept: nothing can be closed, the newcomer is turned away.
        let (_c5, s5) = pair(&listener);
        assert!(!slots.take(5, &s5));
        slots.free(1);
        assert!(slots.take(5, &s5));
        c1.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(c1.read(&mut byte).is_err(), "a kept connection stays open");
    }
}
