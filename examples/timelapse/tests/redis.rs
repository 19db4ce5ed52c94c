//! Two instances of the service on one database and one Redis: entries are
//! shared, and a write on one instance (its `#[invalidates]` after a 2xx)
//! invalidates the other's; a refused write invalidates nothing.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use reqwest::StatusCode;

fn redis_url() -> Option<String> {
    let url = std::env::var("CACHED_ETAG_REDIS_URL").ok();
    if url.is_none() {
        eprintln!(
            "SKIPPED: set CACHED_ETAG_REDIS_URL (bash scripts/test.sh starts a Redis and sets it)"
        );
    }
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_entries_and_invalidations() {
    let Some(url) = redis_url() else { return };
    let a = Server::start_with(timelapse::Config::fresh_data_dir(), Some(url.clone()));
    // The second instance opens the same database once the first migrated it.
    let b = Server::start_with(a.data_dir.clone(), Some(url));
    // One public host for both, as behind a load balancer (the host is part
    // of the cache key), and a new one per run so that entries another run
    // left in Redis are never this run's.
    let host = format!(
        "timelapse-{}.test",
        a.data_dir.file_name().unwrap().to_string_lossy()
    );
    let client = reqwest::Client::new();
    let get = async |server: &Server| {
        let r = client
            .get(server.url("/api/cameras/2"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()["etag"].to_str().unwrap().to_owned()
    };

    let first = get(&a).await;
    assert_eq!(get(&b).await, first);
    assert_eq!(b.stats().stores, 0, "B served A's entry from Redis");
    assert_eq!(b.stats().hits, 1);

    let put = async |server: &Server, if_match: &str| {
        client
            .put(server.url("/api/cameras/2"))
            .header("host", &host)
            .header("if-match", if_match)
            .header("content-type", "application/json")
            .body(r#"{"name":"Driveway","location":"Moved","enabled":true}"#)
            .send()
            .await
            .unwrap()
    };
    let written = put(&b, &first).await;
    assert_eq!(written.status(), StatusCode::OK);
    let new = written.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new, first);
    // The writer reads its write at once: the invalidation completed before
    // the response.
    assert_eq!(get(&b).await, new);

    // A's memory copy goes within 100 ms of B's write.
    let deadline = Instant::now() + Duration::from_millis(100);
    loop {
        let seen = get(&a).await;
        if seen == new {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A still serves {seen} after B's write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A writer on A still holding the first version is refused, with the
    // current ETag, and B keeps serving its entry.
    let stale = put(&a, &first).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.headers()["etag"], new.as_str());
    let hits = b.stats().hits;
    assert_eq!(get(&b).await, new);
    assert_eq!(b.stats().hits, hits + 1, "B's entry survived the 412");

    // The same write again on A, with the current version: nothing changes,
    // so the shared entry showing that ETag is kept.
    let same = put(&a, &new).await;
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(same.headers()["etag"], new.as_str());
    assert_eq!(get(&b).await, new);
    assert_eq!(b.stats().hits, hits + 2, "kept by ETag");
    assert!(a.stats().invalidations_skipped >= 1, "{:?}", a.stats());
    tokio::task::spawn_blocking(move || drop((a, b)))
        .await
        .unwrap();
}
