//! `GET /metrics`: a Prometheus scrape shows the cache's series per route,
//! and they move when routes are requested. A test binary of its own: the
//! recorder is process-wide, so only this service feeds it here.

mod common;

use common::Server;
use reqwest::{Client, StatusCode};

/// The scrape as text.
async fn scrape(client: &Client, server: &Server) -> String {
    let response = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the series `name{labels}` in a scrape; 0 when absent.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

fn route(name: &str, route: &str) -> String {
    format!(r#"{name}{{cache="timelapse",route="timelapse::read::{route}"}}"#)
}

#[tokio::test]
async fn a_scrape_shows_per_route_series_that_move() {
    let server = Server::start();
    let client = Client::new();
    let before = scrape(&client, &server).await;

    let settings = server.url("/api/settings");
    let first = client.get(&settings).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let body = first.bytes().await.unwrap();
    client.get(&settings).send().await.unwrap();
    let revalidated = client
        .get(&settings)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    client
        .get(server.url("/api/cameras/1"))
        .send()
        .await
        .unwrap();

    let after = scrape(&client, &server).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        moved(&route("cached_etag_misses_total", "settings")),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved(&route("cached_etag_hits_total", "settings")),
        2.0,
        "{after}"
    );
    assert_eq!(
        moved(&route("cached_etag_stores_total", "settings")),
        1.0,
        "{after}"
    );
    let from_store = r#"cached_etag_not_modified_total{cache="timelapse",route="timelapse::read::settings",source="store"}"#;
    assert_eq!(moved(from_store), 1.0, "{after}");
    assert_eq!(
        moved(&route("cached_etag_saved_bytes_total", "settings")),
        body.len() as f64,
        "{after}"
    );
    // Another route moves on its own.
    assert_eq!(
        moved(&route("cached_etag_misses_total", "camera")),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved(&route("cached_etag_hits_total", "camera")),
        0.0,
        "{after}"
    );
    // The histograms and the memory gauges are there too.
    for series in [
        r#"cached_etag_fill_duration_seconds_count{cache="timelapse",route="timelapse::read::settings"}"#,
        r#"cached_etag_not_modified_size_bytes_count{cache="timelapse",route="timelapse::read::settings"}"#,
    ] {
        assert!(value(&after, series) >= 1.0, "{series} missing:\n{after}");
    }
    assert!(
        value(&after, r#"cached_etag_entries{cache="timelapse"}"#) >= 2.0,
        "{after}"
    );
    assert!(
        after.contains("# TYPE cached_etag_hits_total counter"),
        "{after}"
    );
}
