//! Fair turns at password hashing (docs/api.md §4, §5). bcrypt is the service's one expensive operation, and the cores
//! can run only so many hashes at once; a request that hashes (a login, a sign-up or create, a password change)
//! first takes a turn here. Turns go round-robin between clients (client IPs as §4 decides them), logins before
//! everything else, so a client that sends a hundred sign-ups waits behind its own requests, not in front of
//! another client's login. Waiting is bounded, per class and per client: past the bound the answer is 503 with
//! `Retry-After` at once, never an unbounded wait.
//!
//! The turn is held for the whole use case (the hash and the few statements around it), not only for the hash:
//! the domain stays unaware of clients, and the statements are short next to a bcrypt hash.

use crate::client_limits::client_ip;
use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What a turn is for. Logins are served before the rest: they are what a signed-out user waits on, and the
/// per-IP login limit already bounds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashClass {
    Login,
    /// Sign-ups, an admin's creates, password changes.
    Other,
}

impl HashClass {
    const SERVED_FIRST: [Self; 2] = [Self::Login, Self::Other];

    fn index(self) -> usize {
        match self {
            Self::Login => 0,
            Self::Other => 1,
        }
    }
}

/// How many hash at once, and how many may wait, for how long.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Turns held at once: the hasher's own parallelism.
    pub concurrent: usize,
    /// Waiting requests of one class, all clients together (a bound on memory).
    pub waiting_per_class: usize,
    /// Waiting requests of one client in one class.
    pub waiting_per_client: usize,
    /// The longest a new request may expect to wait behind the others of its class (estimated from how long turns
    /// are held lately): past it, 503 at once rather than a wait nobody will sit through.
    pub longest_wait: Duration,
    /// The same for a client behind its own requests (its share of the round-robin cannot be faster): a client
    /// sending a flood gets 503s for it early, without pushing the class towards `longest_wait` for the others.
    pub longest_client_wait: Duration,
}

impl QueueLimits {
    /// `concurrent` turns; up to 30 s of waiting per class and 10 s behind one's own requests; counts high enough
    /// that the times are what bound the queue.
    pub fn for_concurrency(concurrent: usize) -> Self {
        let concurrent = concurrent.max(1);
        Self {
            concurrent,
            waiting_per_class: 1024 * concurrent,
            waiting_per_client: 256 * concurrent,
            longest_wait: Duration::from_secs(30),
            longest_client_wait: Duration::from_secs(10),
        }
    }
}

/// The queue is full for this client: come back in `retry_after_secs` (1–30, the service's estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub retry_after_secs: u64,
}

impl From<QueueFull> for ApiError {
    fn from(full: QueueFull) -> Self {
        Self::HashingBusy { retry_after_secs: full.retry_after_secs }
    }
}

/// The fair scheduler; cheap to clone (one queue per instance, shared by the workers).
#[derive(Clone)]
pub struct HashingQueue {
    shared: Arc<Shared>,
}

struct Shared {
    limits: QueueLimits,
    state: Mutex<State>,
}

struct State {
    /// Turns handed out and not yet given back (one in transit to a waiter counts as held).
    held: usize,
    /// Indexed by `HashClass::index`.
    classes: [ClassQueue; 2],
    next_waiter_id: u64,
    /// A moving average of how long a turn is held, for `Retry-After`.
    average_hold: Option<Duration>,
}

/// One class's waiting requests: a queue per client, and the clients in round-robin order.
#[derive(Default)]
struct ClassQueue {
    /// Each client with a request waiting, once.
    order: VecDeque<IpAddr>,
    waiting: HashMap<IpAddr, VecDeque<Waiter>>,
    len: usize,
}

struct Waiter {
    id: u64,
    send: oneshot::Sender<HashingTurn>,
}

impl ClassQueue {
    fn waiting_of(&self, client: IpAddr) -> usize {
        self.waiting.get(&client).map_or(0, VecDeque::len)
    }

    fn push(&mut self, client: IpAddr, waiter: Waiter) {
        let queue = self.waiting.entry(client).or_default();
        if queue.is_empty() {
            self.order.push_back(client);
        }
        queue.push_back(waiter);
        self.len += 1;
    }

    /// The first waiter of the client whose turn it is; that client goes to the back of the round.
    fn pop(&mut self) -> Option<Waiter> {
        let client = self.order.pop_front()?;
        let queue = self.waiting.get_mut(&client)?;
        let waiter = queue.pop_front();
        if queue.is_empty() {
            self.waiting.remove(&client);
        } else {
            self.order.push_back(client);
        }
        self.len -= usize::from(waiter.is_some());
        waiter
    }

    /// Takes a waiter that gave up (its request was dropped) out of the queue.
    fn remove(&mut self, client: IpAddr, id: u64) {
        let Some(queue) = self.waiting.get_mut(&client) else { return };
        let Some(position) = queue.iter().position(|w| w.id == id) else { return };
        queue.remove(position);
        self.len -= 1;
        if queue.is_empty() {
            self.waiting.remove(&client);
            self.order.retain(|c| *c != client);
        }
    }
}

impl State {
    fn waiting(&self) -> usize {
        self.classes.iter().map(|c| c.len).sum()
    }

    fn next_waiter(&mut self) -> Option<Waiter> {
        HashClass::SERVED_FIRST.iter().find_map(|class| self.classes[class.index()].pop())
    }

    fn record_hold(&mut self, held: Duration) {
        self.average_hold = Some(match self.average_hold {
            Some(average) => (average * 7 + held) / 8,
            None => held,
        });
    }

    /// How long `ahead` requests take to be served, `concurrent` at a time, at the recent pace (nothing before the
    /// first turn is given back).
    fn time_for(&self, ahead: usize, concurrent: usize) -> Duration {
        let rounds = u32::try_from(ahead.div_ceil(concurrent)).unwrap_or(u32::MAX);
        self.average_hold.unwrap_or_default().saturating_mul(rounds)
    }
}

/// A wait as `Retry-After` seconds: 1–30.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().clamp(1.0, 30.0) as u64
}

impl HashingQueue {
    pub fn new(limits: QueueLimits) -> Self {
        let limits = QueueLimits { concurrent: limits.concurrent.max(1), ..limits };
        let state = State { held: 0, classes: Default::default(), next_waiter_id: 0, average_hold: None };
        Self { shared: Arc::new(Shared { limits, state: Mutex::new(state) }) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can panic halfway through a change; a poisoned lock holds a consistent state.
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A turn for `client`'s request of `class`: at once when one is free and nobody waits, else when the
    /// round-robin comes to it; `QueueFull` when this class or this client has too many waiting, or would wait too
    /// long, already.
    /// Dropping the future while it waits gives up the place.
    pub async fn turn(&self, client: IpAddr, class: HashClass) -> Result<HashingTurn, QueueFull> {
        let limits = self.shared.limits;
        let (id, granted) = {
            let mut state = self.lock();
            if state.held < limits.concurrent && state.waiting() == 0 {
                state.held += 1;
                return Ok(HashingTurn::new(self.clone()));
            }
            let queue = &state.classes[class.index()];
            let (own, all) = (queue.waiting_of(client) + 1, queue.len + 1);
            let (own_wait, class_wait) =
                (state.time_for(own, limits.concurrent), state.time_for(all, limits.concurrent));
            if own > limits.waiting_per_client
                || all > limits.waiting_per_class
                || own_wait > limits.longest_client_wait
                || class_wait > limits.longest_wait
            {
                return Err(QueueFull { retry_after_secs: retry_after_secs(own_wait.max(class_wait)) });
            }
            let (send, granted) = oneshot::channel();
            let id = state.next_waiter_id;
            state.next_waiter_id += 1;
            state.classes[class.index()].push(client, Waiter { id, send });
            (id, granted)
        };
        // Dropped with this future: a request that gives up leaves the queue (after its turn came: a no-op).
        let _place = Place { queue: self, client, class, id };
        // The sender stays in the queue until it sends, so it is never dropped unsent while this waits.
        granted.await.map_err(|_| QueueFull { retry_after_secs: 1 })
    }

    /// Gives a turn back: to the next waiter, or to the pool when nobody waits.
    fn give_back(&self, held: Duration) {
        self.lock().record_hold(held);
        loop {
            let next = {
                let mut state = self.lock();
                match state.next_waiter() {
                    Some(next) => next,
                    None => {
                        state.held -= 1;
                        return;
                    }
                }
            };
            // Outside the lock: a turn refused by a waiter that just gave up is dropped here, not given back twice.
            match next.send.send(HashingTurn::new(self.clone())) {
                Ok(()) => return,
                Err(mut unwanted) => unwanted.queue = None,
            }
        }
    }
}

/// A waiting request's place in the queue, taken out if the request is dropped before its turn comes.
struct Place<'a> {
    queue: &'a HashingQueue,
    client: IpAddr,
    class: HashClass,
    id: u64,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.queue.lock().classes[self.class.index()].remove(self.client, self.id);
    }
}

/// The right to hash now; given back (to the next waiter) when dropped.
pub struct HashingTurn {
    /// `None`: not a real turn any more (refused in transit).
    queue: Option<HashingQueue>,
    since: Instant,
}

impl HashingTurn {
    fn new(queue: HashingQueue) -> Self {
        Self { queue: Some(queue), since: Instant::now() }
    }
}

impl Drop for HashingTurn {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            queue.give_back(self.since.elapsed());
        }
    }
}

/// The hashing queue as one client of it (its IP as §4 decides it), for handlers that hash.
pub struct HashingClient {
    queue: Option<HashingQueue>,
    client: IpAddr,
}

impl HashingClient {
    /// Waits for this client's turn (or 503 when the queue is full for it).
    pub async fn turn(&self, class: HashClass) -> Result<Option<HashingTurn>, ApiError> {
        match &self.queue {
            Some(queue) => Ok(Some(queue.turn(self.client, class).await?)),
            // No queue configured (an app built without one): hashing is not gated.
            None => Ok(None),
        }
    }
}

impl FromRequest for HashingClient {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let queue = req.app_data::<web::Data<HashingQueue>>().map(|q| q.get_ref().clone());
        std::future::ready(Ok(Self { queue, client: client_ip(req) }))
    }
}

impl paperclip::v2::schema::Apiv2Schema for HashingClient {}
impl paperclip::actix::OperationModifier for HashingClient {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    /// A queue bounded by counts alone.
    fn queue(concurrent: usize, per_class: usize, per_client: usize) -> HashingQueue {
        HashingQueue::new(QueueLimits {
            concurrent,
            waiting_per_class: per_class,
            waiting_per_client: per_client,
            longest_wait: Duration::MAX,
            longest_client_wait: Duration::MAX,
        })
    }

    /// Spawns a request that records `name` when its turn comes and gives the turn back at once; returns when it
    /// waits in the queue, so the order of arrival is known.
    async fn request(
        queue: &HashingQueue,
        served: &Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
        client: IpAddr,
        class: HashClass,
    ) -> tokio::task::JoinHandle<()> {
        let (queue, served) = (queue.clone(), served.clone());
        let handle = tokio::spawn(async move {
            let _turn = queue.turn(client, class).await.expect("a turn");
            served.lock().expect("lock").push(name);
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        handle
    }

    #[tokio::test]
    async fn turns_go_round_robin_between_clients_with_logins_first() {
        let queue = queue(1, 100, 100);
        let served = Arc::default();
        let held = queue.turn(ip(1), HashClass::Other).await.expect("a free turn");
        let mut waiting = Vec::new();
        for name in ["flood-1", "flood-2", "flood-3"] {
            waiting.push(request(&queue, &served, name, ip(1), HashClass::Other).await);
        }
        waiting.push(request(&queue, &served, "other-client-signup", ip(2), HashClass::Other).await);
        waiting.push(request(&queue, &served, "login", ip(3), HashClass::Login).await);
        assert!(served.lock().expect("lock").is_empty(), "one turn at a time: everyone waits");
        drop(held);
        for handle in waiting {
            handle.await.expect("served");
        }
        assert_eq!(
            *served.lock().expect("lock"),
            ["login", "flood-1", "other-client-signup", "flood-2", "flood-3"],
            "the login first, then the two clients' sign-ups in turn"
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_at_once_with_a_retry_after_and_per_client() {
        let queue = queue(1, 3, 2);
        let held = queue.turn(ip(1), HashClass::Other).await.expect("free turn");
        let mut waiting = Vec::new();
        for _ in 0..2 {
            let queue = queue.clone();
            waiting.push(tokio::spawn(async move { queue.turn(ip(1), HashClass::Other).await.map(drop) }));
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let full = queue.turn(ip(1), HashClass::Other).await.err().expect("this client's share is full");
        assert!((1..=30).contains(&full.retry_after_secs), "{full:?}");
        let other = queue.clone();
        let other = tokio::spawn(async move { other.turn(ip(2), HashClass::Other).await.map(drop) });
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(queue.turn(ip(3), HashClass::Other).await.is_err(), "the class is full for everyone");
        let login = queue.clone();
        let login = tokio::spawn(async move { login.turn(ip(3), HashClass::Login).await.map(drop) });
        tokio::task::yield_now().await;
        drop(held);
        for handle in waiting.into_iter().chain([other, login]) {
            assert!(handle.await.expect("joined").is_ok(), "every queued request gets its turn");
        }
        assert!(queue.turn(ip(1), HashClass::Other).await.is_ok(), "all turns were given back");
    }

    #[test]
    fn a_full_queue_is_a_503_unavailable_with_retry_after() {
        use actix_web::ResponseError;
        let response = ApiError::from(QueueFull { retry_after_secs: 7 }).error_response();
        assert_eq!(response.status(), actix_web::http::StatusCode::SERVICE_UNAVAILABLE);
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("retry-after"), Some("7"));
        assert_eq!(header("content-type"), Some("application/problem+json"));
        let body = actix_web::body::MessageBody::try_into_bytes(response.into_body()).expect("a body in one piece");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["type"], "/problems/unavailable");
    }

    #[tokio::test]
    async fn the_expected_wait_bounds_the_queue_too() {
        let queue = HashingQueue::new(QueueLimits {
            longest_client_wait: Duration::from_millis(50),
            ..QueueLimits::for_concurrency(1)
        });
        // Turns held 40 ms each lately: one request waiting behind one's own is 40 ms, two are 80 ms.
        queue.lock().record_hold(Duration::from_millis(40));
        let held = queue.turn(ip(1), HashClass::Other).await.expect("free turn");
        let waiting = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.turn(ip(1), HashClass::Other).await.map(drop) })
        };
        tokio::task::yield_now().await;
        let full = queue.turn(ip(1), HashClass::Other).await.err().expect("80 ms behind its own requests is too long");
        assert_eq!(full.retry_after_secs, 1, "at least a second");
        let other = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.turn(ip(2), HashClass::Other).await.map(drop) })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiting.await.expect("joined").is_ok());
        assert!(other.await.expect("joined").is_ok(), "another client still had room");
    }

    #[tokio::test]
    async fn a_request_that_gives_up_leaves_the_queue_and_its_turn_goes_on() {
        let queue = queue(1, 10, 10);
        let held = queue.turn(ip(1), HashClass::Other).await.expect("free turn");
        let gave_up = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.turn(ip(2), HashClass::Login).await.map(drop) })
        };
        tokio::task::yield_now().await;
        gave_up.abort();
        let _ = gave_up.await;
        let next = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.turn(ip(3), HashClass::Other).await.map(drop) })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(next.await.expect("joined").is_ok(), "the turn skipped the request that gave up");
        assert_eq!(queue.lock().waiting(), 0);
        assert_eq!(queue.lock().held, 0, "no turn leaked");
    }

    #[tokio::test]
    async fn never_more_turns_at_once_than_allowed() {
        let queue = queue(2, 1000, 1000);
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..50u8)
            .map(|i| {
                let (queue, now, most) = (queue.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = queue.turn(ip(i % 5), HashClass::Other).await.expect("a turn");
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("joined");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(queue.lock().held, 0);
    }
}
