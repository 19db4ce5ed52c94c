//! Several instances of an application, each a [`Cache`] in front of one
//! shared Redis, under concurrent readers while a writer changes the data
//! and Redis is killed and restarted in the middle.
//!
//! The "database" is one version number; each fill answers it and tags
//! the response `doc`. The writer bumps it, then invalidates the tag on one
//! instance (a different one each time), as an application does after a
//! write; one more instance only reads. What must hold, for every read:
//!
//! - read-your-writes: once the writer's `invalidate_tag` has returned, its
//!   own instance never serves an older version;
//! - no invalidation is lost: every instance serves the new version within
//!   [`BOUND`] of the write, Redis outage or not;
//! - every answer is a 200.
//!
//! The test starts a `redis-server` of its own on a free loopback port, so
//! that it can kill and restart it; it fails without one on `PATH`. It
//! prints how long each write took to reach every instance (`--nocapture`).
#![cfg(feature = "redis")]

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use cached_etag_runtime::{Cache, Fresh, Policy, RedisStore, Removed, RequestHead};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

/// How soon after a write every instance must serve the new version.
const BOUND: Duration = Duration::from_secs(3);
const INSTANCES: usize = 4;
/// Writes rotate over the first three instances; the last one only reads,
/// so it learns of writes from Redis alone (its own invalidations do not
/// clear its memory now and then).
const WRITERS: usize = 3;
const READERS_PER_INSTANCE: usize = 2;
/// Documents, each with its own version and tag: a lost invalidation of
/// one is not covered up by the next write, which is most likely of
/// another.
const DOCS: usize = 16;
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// How long the handler takes after reading the version: a fill that read
/// before a write may land after it.
const HANDLER_DELAY: Duration = Duration::from_millis(2);
/// Writes while Redis is up, then while it is down (longer than the
/// bound: a subscription's return must not be what delivers them), then
/// after its restart, while the instances reconnect; then none for the
/// bound and a little more, so that what was lost stays visible.
const UP: Duration = Duration::from_secs(2);
const DOWN: Duration = Duration::from_millis(3_500);
const BACK: Duration = Duration::from_secs(1);

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("instances::doc").build());

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::Server;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One answered request.
#[derive(Debug, Clone, Copy)]
struct Read {
    instance: usize,
    doc: usize,
    start: Instant,
    end: Instant,
    status: StatusCode,
    version: u64,
}

/// One write: the version of the document it made, on which instance it
/// was invalidated, and when that invalidation returned.
#[derive(Debug, Clone, Copy)]
struct Write {
    doc: usize,
    version: u64,
    instance: usize,
    returned: Instant,
    removed: Removed,
}

/// The "database": one version per document.
type Db = Arc<Vec<AtomicU64>>;

async fn read(cache: &Cache, instance: usize, doc: usize, db: &Db) -> Read {
    let path = format!("/doc/{doc}");
    let request = Request::get(path).header("host", "app").body(()).unwrap();
    let (parts, ()) = request.into_parts();
    let db = db.clone();
    let start = Instant::now();
    let tags = vec![format!("doc:{doc}")];
    let response: Response<Body> = cache
        .respond(RequestHead::from(&parts), &POLICY, tags, None, async move {
            let version = db[doc].load(Ordering::SeqCst);
            tokio::time::sleep(HANDLER_DELAY).await;
            Fresh::new(Response::new(Body::from(version.to_string())))
        })
        .await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Read {
        instance,
        doc,
        start,
        end: Instant::now(),
        status,
        version: std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The version of the last of `writes` (of one document, in order) that
/// returned before `at`; 0 if none.
fn floor(writes: &[&Write], at: Instant) -> u64 {
    let n = writes.partition_point(|w| w.returned < at);
    n.checked_sub(1).map_or(0, |i| writes[i].version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_agree_through_writes_and_a_redis_restart() {
    tokio::time::timeout(Duration::from_secs(30), run())
        .await
        .expect("the test finished within 30 s");
}

async fn run() {
    let port = free_port();
    let mut server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = format!("cached-etag-instances:{}:", std::process::id());

    let mut stores = Vec::new();
    let mut caches = Vec::new();
    for _ in 0..INSTANCES {
        let redis = RedisStore::builder(url.as_str())
            .prefix(&prefix)
            .build()
            .unwrap();
        let cache = Cache::builder().store(redis.clone()).build();
        cache.follow(redis.announcements());
        stores.push(redis);
        caches.push(cache);
    }
    let subscribed = Instant::now();
    while stores.iter().any(|s| s.stats().subscriptions == 0) {
        assert!(subscribed.elapsed() < Duration::from_secs(5), "subscribed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let db: Db = Arc::new((0..DOCS).map(|_| AtomicU64::new(1)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..INSTANCES * READERS_PER_INSTANCE)
        .map(|r| {
            let instance = r % INSTANCES;
            let (cache, db, stop) = (caches[instance].clone(), db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = Vec::new();
                let mut n = r * 5;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    reads.push(read(&cache, instance, n % DOCS, &db).await);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                reads
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut writes = Vec::new();
    let mut own_reads = Vec::new();
    let began = Instant::now();
    let mut killed_at = None;
    let mut restarted_at = None;
    for i in 0.. {
        let elapsed = began.elapsed();
        if killed_at.is_none() && elapsed >= UP {
            server.kill();
            killed_at = Some(Instant::now());
        }
        if restarted_at.is_none() && elapsed >= UP + DOWN {
            server = Server::start(port);
            restarted_at = Some(Instant::now());
        }
        if elapsed >= UP + DOWN + BACK {
            break;
        }
        let (instance, doc) = (i % WRITERS, (i * 7) % DOCS);
        let cache = &caches[instance];
        let version = db[doc].fetch_add(1, Ordering::SeqCst) + 1;
        let removed = cache.invalidate_tag(&format!("doc:{doc}")).await;
        writes.push(Write {
            doc,
            version,
            instance,
            returned: Instant::now(),
            removed,
        });
        // The writer reads its write back at once, on its own instance.
        own_reads.push(read(cache, instance, doc, &db).await);
        tokio::time::sleep(WRITE_EVERY).await;
    }
    // Long enough for the last writes to reach everyone.
    tokio::time::sleep(BOUND + Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut reads = own_reads;
    for reader in readers {
        reads.extend(reader.await.unwrap());
    }
    let (killed_at, restarted_at) = (killed_at.unwrap(), restarted_at.unwrap());

    // Writes of one document follow one another, so within a document they
    // are ordered by version and by return time alike.
    let of_doc: Vec<Vec<&Write>> = (0..DOCS)
        .map(|d| writes.iter().filter(|w| w.doc == d).collect())
        .collect();
    let of_doc_on: Vec<Vec<Vec<&Write>>> = (0..INSTANCES)
        .map(|i| {
            of_doc
                .iter()
                .map(|ws| ws.iter().copied().filter(|w| w.instance == i).collect())
                .collect()
        })
        .collect();

    let not_ok: Vec<&Read> = reads
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .collect();
    // Read-your-writes: after the writer's invalidation returned, its own
    // instance serves that version or a newer one.
    let unread_writes: Vec<(&Read, u64)> = reads
        .iter()
        .filter_map(|r| {
            let own = floor(&of_doc_on[r.instance][r.doc], r.start);
            (r.version < own).then_some((r, own))
        })
        .collect();
    // Nothing lost: BOUND after a write, every instance serves it.
    let lost: Vec<(&Read, u64)> = reads
        .iter()
        .filter_map(|r| {
            let due = r
                .start
                .checked_sub(BOUND)
                .map_or(0, |at| floor(&of_doc[r.doc], at));
            (r.version < due).then_some((r, due))
        })
        .collect();

    // Per write: propagation, from its return until every instance served
    // it (the first read of this version or later after the last read that
    // served an older one); the stale window, until the last read that
    // served an older one ended (zero when none did).
    let mut reads_of: Vec<Vec<Vec<&Read>>> = vec![vec![Vec::new(); DOCS]; INSTANCES];
    for r in &reads {
        reads_of[r.instance][r.doc].push(r);
    }
    for lists in &mut reads_of {
        for list in lists {
            list.sort_by_key(|r| r.start);
        }
    }
    let mut propagation = Vec::new();
    let mut to_reader = Vec::new();
    let mut stale_window = Vec::new();
    let mut unseen = Vec::new();
    for w in &writes {
        let mut reached = Duration::ZERO;
        let mut stale = Duration::ZERO;
        for (i, lists) in reads_of.iter().enumerate() {
            let list = &lists[w.doc];
            let from = list.partition_point(|r| r.start <= w.returned);
            let horizon = w.returned + BOUND + Duration::from_millis(500);
            let mut served = None;
            for r in list[from..].iter().take_while(|r| r.start < horizon) {
                if r.version < w.version {
                    stale = stale.max(r.end - w.returned);
                    served = None;
                } else if served.is_none() {
                    served = Some(r.start - w.returned);
                }
            }
            match served {
                Some(took) => {
                    reached = reached.max(took);
                    if i == INSTANCES - 1 {
                        to_reader.push(took);
                    }
                }
                None => unseen.push((i, w)),
            }
        }
        propagation.push(reached);
        stale_window.push(stale);
    }
    let phase = |at: Instant| match at {
        at if at < killed_at => 0,
        at if at < restarted_at => 1,
        _ => 2,
    };
    let mut by_phase: [Vec<Duration>; 3] = Default::default();
    let mut stale_by_phase: [Vec<Duration>; 3] = Default::default();
    for ((w, p), s) in writes.iter().zip(&propagation).zip(&stale_window) {
        by_phase[phase(w.returned)].push(*p);
        stale_by_phase[phase(w.returned)].push(*s);
    }
    propagation.sort();
    to_reader.sort();
    stale_window.sort();
    for p in by_phase.iter_mut().chain(&mut stale_by_phase) {
        p.sort();
    }

    let failed = |p: usize| {
        writes
            .iter()
            .filter(|w| phase(w.returned) == p && !w.removed.is_complete())
            .count()
    };
    eprintln!(
        "{INSTANCES} instances ({WRITERS} write), {DOCS} documents, {} reads, {} writes; Redis \
         killed after {:?} for {:?}; writes whose remote call failed: {} up, {} down, {} back",
        reads.len(),
        writes.len(),
        killed_at - began,
        restarted_at - killed_at,
        failed(0),
        failed(1),
        failed(2),
    );
    let line = |name: &str, sorted: &[Duration]| {
        eprintln!(
            "{name}: n={} p50={:?} p99={:?} max={:?}",
            sorted.len(),
            percentile(sorted, 0.50),
            percentile(sorted, 0.99),
            sorted.last().copied().unwrap_or_default()
        );
    };
    // Propagation is measured by the readers, which visit a document on an
    // instance every few milliseconds: it is an upper bound. The stale
    // window is a lower one.
    let phases = [
        "while Redis was up",
        "while Redis was down",
        "after the restart",
    ];
    line("propagation to every instance, all writes", &propagation);
    line("stale window, all writes", &stale_window);
    for (p, name) in phases.iter().enumerate() {
        line(&format!("propagation, writes {name}"), &by_phase[p]);
        line(&format!("stale window, writes {name}"), &stale_by_phase[p]);
    }
    line("propagation to the instance that only reads", &to_reader);
    for (i, (cache, store)) in caches.iter().zip(&stores).enumerate() {
        eprintln!("instance {i}: {:?}", cache.stats());
        eprintln!("instance {i}: {:?}", store.stats());
    }

    let show = |v: &[(&Read, u64)]| -> String {
        v.iter()
            .take(5)
            .map(|(r, want)| {
                let at = |t: Instant| {
                    if t >= killed_at {
                        (t - killed_at).as_secs_f64()
                    } else {
                        -(killed_at - t).as_secs_f64()
                    }
                };
                format!(
                    "instance {} served doc {} v{} (wanted v{want}) at {:+.3} s from the kill \
                     (restart at {:+.3} s)",
                    r.instance,
                    r.doc,
                    r.version,
                    at(r.start),
                    at(restarted_at)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        not_ok.is_empty(),
        "{} answers not 200: {:?}",
        not_ok.len(),
        &not_ok[..not_ok.len().min(5)]
    );
    assert!(
        unread_writes.is_empty(),
        "{} read-your-writes violations: {}",
        unread_writes.len(),
        show(&unread_writes)
    );
    assert!(
        lost.is_empty(),
        "{} reads served a version older than one written {BOUND:?} before: {}",
        lost.len(),
        show(&lost)
    );
    assert!(
        unseen.is_empty(),
        "{} (instance, write) pairs where the instance did not serve the write within the \
         bound: {:?}",
        unseen.len(),
        &unseen[..unseen.len().min(5)]
    );
    for (i, lists) in reads_of.iter().enumerate() {
        for (d, list) in lists.iter().enumerate() {
            let last = list.last().expect("every document was read everywhere");
            assert_eq!(
                last.version,
                db[d].load(Ordering::SeqCst),
                "instance {i} serves document {d}'s last version at the end"
            );
        }
    }
    assert!(
        stores.iter().all(|s| s.stats().subscriptions >= 2),
        "every instance resubscribed after the restart"
    );
    drop(server);
}
