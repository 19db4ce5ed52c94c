//! The capture worker as a separate process: its writes reach the API's
//! cache through the database watcher (`PRAGMA data_version`), within the
//! poll interval, with no event and no short TTL.

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

#[tokio::test]
async fn a_capture_from_another_process_is_served_within_the_poll_interval() {
    let server = Server::start_config(Config {
        watch: Some(WATCH),
        ..Config::new(Config::fresh_data_dir())
    });
    let client = Client::new();
    assert_eq!(count(&client, &server, 1).await.0, 3);
    assert_eq!(count(&client, &server, 1).await.0, 3);
    let hits = server.stats().hits;
    assert!(hits >= 1, "the second read was a hit");

    let status = Command::new(env!("CARGO_BIN_EXE_timelapse"))
        .args(["capture", "--camera", "1", "--count", "1", "--data-dir"])
        .arg(&server.data_dir)
        .status()
        .expect("the worker runs");
    assert!(status.success(), "the worker captured");
    let written = Instant::now();

    // Seen within the poll interval, plus a margin for a loaded machine.
    let mut seen = None;
    while Instant::now() < written + PATIENCE {
        if count(&client, &server, 1).await.0 == 4 {
            seen = Some(written.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = seen.expect("the API never served the new count");
    assert!(
        seen < WATCH + Duration::from_millis(400),
        "seen after {seen:?}, poll interval {WATCH:?}"
    );
    // And it stays fresh: served from the cache again, not refilled each time.
    let (n, etag) = count(&client, &server, 1).await;
    assert_eq!(n, 4);
    assert_eq!(count(&client, &server, 1).await.1, etag);
}

/// The cost of one check: `PRAGMA data_version` on the watcher's own
/// connection. Prints the mean over 10,000 checks.
#[tokio::test]
async fn a_check_costs_microseconds() {
    let data_dir = Config::fresh_data_dir();
    std::fs::create_dir_all(&data_dir).unwrap();
    timelapse::db::open(&data_dir).await.unwrap();
    let mut reader = timelapse::db::version_reader(&data_dir).await.unwrap();
    let start = Instant::now();
    for _ in 0..10_000 {
        timelapse::db::data_version(&mut reader).await.unwrap();
    }
    let each = start.elapsed() / 10_000;
    println!("PRAGMA data_version: {each:?} a check (mean of 10,000)");
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(each < Duration::from_millis(5), "{each:?} a check");
}
