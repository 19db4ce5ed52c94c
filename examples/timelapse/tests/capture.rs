//! The capture worker as a separate process: its writes reach the API's
//! cache through the database watcher (`PRAGMA data_version`), within the
//! next polls, with no event and no short TTL.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{PATIENCE, Server};
use reqwest::Client;
use serde_json::Value;
use timelapse::Config;

const WATCH: Duration = Duration::from_millis(100);

async fn count(client: &Client, server: &Server, camera: i64) -> (u64, String) {
    let response = client
        .get(server.url(&format!("/api/cameras/{camera}/images/count")))
        .send()
        .await
        .expect("GET count");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.expect("count JSON");
    (body["count"].as_u64().expect("a count"), etag)
}

/// Reads until the cache answers one read from memory. The watcher's first
/// reading invalidates once, whenever its task gets to it (what was cached
/// before it started may be stale), so the first fill can be dropped.
async fn until_a_hit(client: &Client, server: &Server, camera: i64) -> (u64, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let hits = server.stats().hits;
        let read = count(client, server, camera).await;
        if server.stats().hits > hits {
            return read;
        }
        assert!(Instant::now() < deadline, "no read was ever a hit");
        tokio::time::sleep(WATCH / 4).await;
    }
}

#[tokio::test]
async fn a_capture_from_another_process_is_served_without_an_event_or_a_short_ttl() {
    let server = Server::start_config(Config {
        watch: Some(WATCH),
        ..Config::new(Config::fresh_data_dir())
    });
    let client = Client::new();
    let (n, cached) = until_a_hit(&client, &server, 1).await;
    assert_eq!(n, 3);

    let before = server.stats();
    let status = Command::new(env!("CARGO_BIN_EXE_timelapse"))
        .args(["capture", "--camera", "1", "--count", "1", "--data-dir"])
        .arg(&server.data_dir)
        .status()
        .expect("the worker runs");
    assert!(status.success(), "the worker captured");

    // The count's TTL is five minutes and the worker sends no event: only
    // the watcher can make the new count show.
    let deadline = Instant::now() + PATIENCE;
    while count(&client, &server, 1).await.0 != 4 {
        assert!(
            Instant::now() < deadline,
            "the API never served the new count"
        );
        tokio::time::sleep(WATCH / 4).await;
    }
    // The watcher marked the count stale rather than removing it: the
    // first read after the capture was answered at once with the old
    // count while one refresh replaced it.
    let after = server.stats();
    assert!(after.stale_served > before.stale_served, "{after:?}");
    assert!(after.refreshes > before.refreshes, "{after:?}");
    // And it is cached again under a new ETag, not refilled on every read.
    let (n, etag) = until_a_hit(&client, &server, 1).await;
    assert_eq!(n, 4);
    assert_ne!(etag, cached);
}

/// `PRAGMA data_version` on the watcher's own connection moves when another
/// connection commits, and only then.
#[tokio::test]
async fn the_version_moves_only_when_another_connection_commits() {
    let data_dir = Config::fresh_data_dir();
    std::fs::create_dir_all(&data_dir).unwrap();
    let pool = timelapse::db::open(&data_dir).await.unwrap();
    let mut reader = timelapse::db::version_reader(&data_dir).await.unwrap();
    let before = timelapse::db::data_version(&mut reader).await.unwrap();
    assert_eq!(
        timelapse::db::data_version(&mut reader).await.unwrap(),
        before
    );

    sqlx::query("UPDATE cameras SET name = name || '!' WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    let after = timelapse::db::data_version(&mut reader).await.unwrap();
    assert_ne!(after, before, "another connection committed");
    assert_eq!(
        timelapse::db::data_version(&mut reader).await.unwrap(),
        after
    );
    pool.close().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
