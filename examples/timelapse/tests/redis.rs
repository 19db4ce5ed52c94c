//! Two instances of the service on one database and one Redis: entries are
//! shared, and a write on one instance invalidates the other's.

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

    let put = client
        .put(b.url("/api/cameras/2"))
        .header("content-type", "application/json")
        .body(r#"{"name":"Driveway","location":"Moved","enabled":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let new = put.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new, first);

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
    tokio::task::spawn_blocking(move || drop((a, b)))
        .await
        .unwrap();
}
