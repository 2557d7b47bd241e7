//! The lean loop's keep-alive pool: idle upstream connections by peer, the most recently
//! released reused first, the least recently released closed when the pool is full.
//!
//! Pingora's pool (`TransportConnector::release_stream`) spawns a watcher task per released
//! connection (a timer, two channels, a lock and a peer-address check on reuse): per request,
//! that was about 5k instructions and a task's worth of memory touched. This pool keeps a
//! connection as a plain value instead. Whether an idle connection was closed by its backend,
//! or sent something unasked, is asked of the socket's readiness when the connection is taken
//! (no system call unless the socket became readable), and a sweeper task closes expired and
//! closed connections every [`SWEEP_EVERY`] so an idle instance holds no half-closed sockets.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pingora::protocols::Stream;
use tokio::io::AsyncReadExt;

/// How often the sweeper closes expired and closed idle connections.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Idle upstream connections, keyed by the peer's reuse hash.
pub struct IdlePool {
    /// Most idle connections kept, over all peers.
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per peer, oldest first.
    by_peer: HashMap<u64, VecDeque<Idle>>,
    /// Connections held, over all peers.
    count: usize,
    /// True while a sweeper task runs for this pool.
    sweeping: bool,
}

/// One idle connection.
struct Idle {
    stream: Stream,
    /// When it was released.
    since: Instant,
    /// Its peer's idle timeout (`None`: kept until the pool needs the room).
    timeout: Option<Duration>,
}

impl Idle {
    fn expired(&self, now: Instant) -> bool {
        self.timeout
            .is_some_and(|t| now.saturating_duration_since(self.since) >= t)
    }
}

impl IdlePool {
    /// An empty pool keeping at most `capacity` idle connections.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        })
    }

    /// An idle connection to the peer, if one is left that is still open, quiet and within
    /// its idle timeout; the connections found unusable on the way are closed.
    pub fn take(&self, key: u64) -> Option<Stream> {
        let now = Instant::now();
        loop {
            let mut idle = {
                let mut state = self.lock();
                let queue = state.by_peer.get_mut(&key)?;
                let idle = queue.pop_back();
                if queue.is_empty() {
                    state.by_peer.remove(&key);
                }
                let idle = idle?;
                state.count -= 1;
                idle
            };
            // Closed outside the lock, by dropping.
            if !idle.expired(now) && quiet(&mut idle.stream) {
                return Some(idle.stream);
            }
        }
    }

    /// Keeps a connection whose exchange ended cleanly, for the peer's next request; starts
    /// the sweeper on the current runtime if none runs.
    pub fn put(self: &Arc<Self>, key: u64, stream: Stream, timeout: Option<Duration>) {
        let idle = Idle {
            stream,
            since: Instant::now(),
            timeout,
        };
        let (evicted, start_sweeper) = {
            let mut state = self.lock();
            let evicted = if state.count >= self.capacity {
                state.evict_oldest()
            } else {
                None
            };
            state.by_peer.entry(key).or_default().push_back(idle);
            state.count += 1;
            let start = !state.sweeping;
            state.sweeping = true;
            (evicted, start)
        };
        drop(evicted);
        if start_sweeper {
            self.start_sweeper();
        }
    }

    /// Idle connections held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// True when no idle connection is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the connections that are past their idle timeout, closed by their backend or
    /// carrying unasked data; returns how many.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut closed = Vec::new();
        {
            let mut state = self.lock();
            for queue in state.by_peer.values_mut() {
                let mut i = 0;
                while i < queue.len() {
                    let keep = queue
                        .get_mut(i)
                        .is_some_and(|idle| !idle.expired(now) && quiet(&mut idle.stream));
                    if keep {
                        i += 1;
                    } else if let Some(idle) = queue.remove(i) {
                        closed.push(idle);
                    }
                }
            }
            state.by_peer.retain(|_, queue| !queue.is_empty());
            state.count -= closed.len();
        }
        closed.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every update is a
        // single step), so a poisoned lock is used as it is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs [`Self::sweep`] every [`SWEEP_EVERY`] while the pool holds connections; the task
    /// holds the pool weakly, so it ends with the pool. Without a runtime (tests) nothing runs
    /// and expired connections are closed when taken.
    fn start_sweeper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().sweeping = false;
            return;
        };
        let pool: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(pool) = pool.upgrade() else {
                    return;
                };
                pool.sweep();
                let mut state = pool.lock();
                if state.count == 0 {
                    // The next `put` starts a new sweeper.
                    state.sweeping = false;
                    return;
                }
            }
        });
    }
}

impl State {
    /// Removes the least recently released connection of all peers.
    fn evict_oldest(&mut self) -> Option<Idle> {
        let key = self
            .by_peer
            .iter()
            .filter_map(|(key, queue)| queue.front().map(|idle| (idle.since, *key)))
            .min()
            .map(|(_, key)| key)?;
        let queue = self.by_peer.get_mut(&key)?;
        let idle = queue.pop_front();
        if queue.is_empty() {
            self.by_peer.remove(&key);
        }
        if idle.is_some() {
            self.count -= 1;
        }
        idle
    }
}

/// True when the idle connection has nothing to read: not closed by its backend and no unasked
/// bytes (a backend does not speak first on an idle HTTP/1.1 connection). Asks the socket's
/// readiness once, without waiting; a socket that has not become readable since its last read
/// costs no system call.
fn quiet(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    // `unconstrained`: the task's cooperative budget must not turn "readable" into "pending".
    let read = tokio::task::unconstrained(stream.read(&mut byte));
    let mut read = pin!(read);
    let mut cx = Context::from_waker(Waker::noop());
    matches!(read.as_mut().poll(&mut cx), Poll::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::protocols::l4::stream::Stream as L4Stream;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connected pair on loopback: the pool's side and the backend's.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    /// The pool's side as Pingora's stream.
    fn wrap(stream: TcpStream) -> Stream {
        Box::new(L4Stream::from(stream))
    }

    /// A connection whose backend closed it (`data`: `None`) or wrote `data`, once the close
    /// or the bytes have reached the runtime's view of the socket.
    async fn spoiled(data: Option<&[u8]>) -> Stream {
        let (ours, mut backend) = pair().await;
        match data {
            Some(bytes) => backend.write_all(bytes).await.expect("write"),
            None => drop(backend),
        }
        tokio::time::timeout(Duration::from_secs(10), ours.readable())
            .await
            .expect("readable within 10 s")
            .expect("readiness");
        wrap(ours)
    }

    #[tokio::test]
    async fn the_newest_connection_of_the_peer_is_reused() {
        let pool = IdlePool::new(8);
        let (a, _ka) = pair().await;
        let (b, _kb) = pair().await;
        let (c, _kc) = pair().await;
        let (a, b, c) = (wrap(a), wrap(b), wrap(c));
        let (a_id, b_id, c_id) = (a.id(), b.id(), c.id());
        pool.put(1, a, None);
        pool.put(1, b, None);
        pool.put(2, c, None);
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.take(1).map(|s| s.id()), Some(b_id));
        assert_eq!(pool.take(1).map(|s| s.id()), Some(a_id));
        assert!(pool.take(1).is_none());
        assert_eq!(pool.take(2).map(|s| s.id()), Some(c_id));
        assert!(pool.is_empty());
    }

    #[tokio::test]
    async fn a_full_pool_closes_the_least_recently_released() {
        let pool = IdlePool::new(2);
        let (a, _ka) = pair().await;
        let (b, _kb) = pair().await;
        let (c, _kc) = pair().await;
        let (a, b, c) = (wrap(a), wrap(b), wrap(c));
        let (b_id, c_id) = (b.id(), c.id());
        pool.put(1, a, None);
        pool.put(2, b, None);
        pool.put(2, c, None);
        assert_eq!(pool.len(), 2);
        assert!(pool.take(1).is_none(), "the oldest (peer 1's) was closed");
        assert_eq!(pool.take(2).map(|s| s.id()), Some(c_id));
        assert_eq!(pool.take(2).map(|s| s.id()), Some(b_id));
    }

    #[tokio::test]
    async fn expired_connections_are_not_reused() {
        let pool = IdlePool::new(8);
        let (fresh, _kf) = pair().await;
        let (stale, _ks) = pair().await;
        let fresh = wrap(fresh);
        let fresh_id = fresh.id();
        pool.put(1, fresh, Some(Duration::from_secs(3600)));
        pool.put(1, wrap(stale), Some(Duration::ZERO));
        assert_eq!(pool.take(1).map(|s| s.id()), Some(fresh_id));
        assert!(pool.is_empty());
    }

    #[tokio::test]
    async fn connections_closed_or_written_by_the_backend_are_not_reused() {
        let pool = IdlePool::new(8);
        let (fine, _backend) = pair().await;
        let fine = wrap(fine);
        let fine_id = fine.id();
        pool.put(1, fine, None);
        pool.put(1, spoiled(None).await, None);
        pool.put(1, spoiled(Some(b"HTTP/1.1 200 OK\r\n")).await, None);
        assert_eq!(pool.take(1).map(|s| s.id()), Some(fine_id));
        assert!(pool.is_empty());
    }

    #[tokio::test]
    async fn the_sweeper_closes_expired_and_closed_connections() {
        let pool = IdlePool::new(8);
        let (fine, _backend) = pair().await;
        pool.put(1, wrap(fine), None);
        pool.put(1, spoiled(None).await, None);
        pool.put(2, spoiled(Some(b"x")).await, None);
        let (stale, _ks) = pair().await;
        pool.put(3, wrap(stale), Some(Duration::ZERO));
        assert_eq!(pool.len(), 4);
        // The sweeper runs every SWEEP_EVERY; wait (bounded) until it has closed the three.
        let deadline = Instant::now() + SWEEP_EVERY * 10;
        while pool.len() > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            pool.len(),
            1,
            "only the open, quiet, unexpired connection stays"
        );
        assert!(pool.take(1).is_some());
    }
}
