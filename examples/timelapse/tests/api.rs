//! The API end to end over real HTTP on loopback: validators on every read
//! path, 304s, invalidation reaching exactly what a write touched, writes
//! that change nothing kept by ETag, `If-Match`, errors, the event stream,
//! restarts and shutdown. Every service here is fresh, so the cache's
//! counters start at zero and the seed data's ETags are known.

mod common;

use cached_etag::ETag;
use common::{PATIENCE, Server};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// The read paths with what a first GET of the seed data shows: ETag (the
/// file's is checked against its body instead), Cache-Control, and whether
/// the style knows a time (Last-Modified).
const ENDPOINTS: [(&str, Option<&str>, &str, bool); 7] = [
    (
        "/api/settings",
        Some(r#""1732442400""#),
        "private, no-cache, max-age=300",
        true,
    ),
    (
        "/api/cameras",
        Some(r#"W/"3-1732442400.5""#),
        "private, no-cache, max-age=300",
        true,
    ),
    (
        "/api/cameras/1",
        Some(r#""1-1732442400""#),
        "private, no-cache, max-age=300",
        true,
    ),
    (
        "/api/cameras/1/images/count",
        Some(r#"W/"3-1732442580""#),
        "private, no-cache, max-age=300",
        true,
    ),
    (
        "/api/cameras/1/images/latest",
        Some(r#"W/"3-1732442580""#),
        "private, no-cache, max-age=300",
        true,
    ),
    (
        "/api/images/1",
        Some(r#"W/"1-1732442460""#),
        "public, max-age=86400",
        true,
    ),
    (
        "/api/images/1/file",
        None,
        "public, max-age=31536000, immutable",
        false,
    ),
];

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

fn etag_of(response: &Response) -> String {
    header(response, "etag").expect("response has an ETag")
}

async fn get(client: &Client, url: &str) -> Response {
    client.get(url).send().await.expect("GET")
}

async fn revalidate(client: &Client, url: &str, etag: &str) -> Response {
    client
        .get(url)
        .header("if-none-match", etag)
        .send()
        .await
        .expect("conditional GET")
}

async fn put_json(client: &Client, url: &str, body: &Value, if_match: Option<&str>) -> Response {
    let mut request = client.put(url).json(body);
    if let Some(etag) = if_match {
        request = request.header("if-match", etag);
    }
    request.send().await.expect("PUT")
}

#[tokio::test]
async fn every_read_path_has_validators_and_revalidates_to_304() {
    let server = Server::start();
    let client = Client::new();
    for (path, expected_etag, cache_control, has_time) in ENDPOINTS {
        let url = server.url(path);
        let first = get(&client, &url).await;
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let etag = etag_of(&first);
        assert_eq!(
            header(&first, "cache-control").as_deref(),
            Some(cache_control),
            "{path}"
        );
        assert_eq!(
            header(&first, "last-modified").is_some(),
            has_time,
            "{path}"
        );
        let content_type = header(&first, "content-type").unwrap_or_default();
        let body = first.bytes().await.expect("body");
        match expected_etag {
            Some(expected) => {
                assert_eq!(etag, expected, "{path}");
                assert_eq!(content_type, "application/json", "{path}");
            }
            None => {
                // The hash style: a strong SHA-256 tag of exactly these bytes.
                let hash = ETag::from_content(&body).into_strong();
                assert_eq!(etag, hash.to_string(), "{path}");
                assert_eq!(content_type, "image/svg+xml", "{path}");
                assert!(body.starts_with(b"<svg"), "{path}");
            }
        }

        let again = revalidate(&client, &url, &etag).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        // RFC 9110 §15.4.5: the 304 carries the validators the 200 had.
        assert_eq!(etag_of(&again), etag, "{path}");
        assert_eq!(
            header(&again, "cache-control").as_deref(),
            Some(cache_control),
            "{path}"
        );
        assert_eq!(
            header(&again, "last-modified").is_some(),
            has_time,
            "{path}"
        );
        assert!(
            again.bytes().await.expect("body").is_empty(),
            "{path}: 304 has no body"
        );

        // Without a validator: the stored 200, byte for byte.
        let stored = get(&client, &url).await;
        assert_eq!(stored.status(), StatusCode::OK, "{path}");
        assert_eq!(etag_of(&stored), etag, "{path}");
        assert_eq!(stored.bytes().await.expect("body"), body, "{path}");
    }

    let n = ENDPOINTS.len() as u64;
    let stats = server.stats();
    assert_eq!(stats.misses, n, "{stats:?}");
    assert_eq!(stats.stores, n, "{stats:?}");
    assert_eq!(stats.hits, 2 * n, "{stats:?}");
    assert_eq!(stats.not_modified, n, "{stats:?}");
    assert!(stats.bytes_saved > 0, "{stats:?}");

    // /api/stats is the same snapshot, as JSON.
    let reported: Value = get(&client, &server.url("/api/stats"))
        .await
        .json()
        .await
        .expect("stats JSON");
    assert_eq!(reported["hits"], json!(2 * n));
    assert_eq!(reported["not_modified"], json!(n));
    assert_eq!(reported["entries"], json!(n));
    assert_eq!(reported["bytes_saved"], json!(stats.bytes_saved));
}

#[tokio::test]
async fn a_camera_write_invalidates_that_camera_and_the_list_only() {
    let server = Server::start();
    let client = Client::new();
    let paths = [
        "/api/cameras/1",
        "/api/cameras/2",
        "/api/cameras",
        "/api/cameras/1/images/count",
        "/api/cameras/2/images/count",
    ];
    let mut before = Vec::new();
    for path in paths {
        before.push(etag_of(&get(&client, &server.url(path)).await));
    }
    assert_eq!(server.stats().stores, 5);

    let changed = json!({ "name": "Street", "location": "Front door", "enabled": true });
    let put = put_json(&client, &server.url("/api/cameras/2"), &changed, None).await;
    assert_eq!(put.status(), StatusCode::OK);
    let new_etag = etag_of(&put);
    assert_ne!(new_etag, before[1]);
    assert!(
        new_etag.starts_with(r#""2-"#),
        "strong composite: {new_etag}"
    );

    // Camera 2's entry and the list's go; nothing else.
    let stats = server.settle("the camera event", |s| s.invalidations >= 2);
    assert_eq!(stats.invalidations, 2, "{stats:?}");
    assert_eq!(stats.entries, 3, "{stats:?}");

    let (hits, misses) = (stats.hits, stats.misses);
    for (path, old) in [paths[0], paths[3], paths[4]]
        .into_iter()
        .zip([&before[0], &before[3], &before[4]])
    {
        let response = get(&client, &server.url(path)).await;
        assert_eq!(&etag_of(&response), old, "{path} is unchanged");
    }
    let stats = server.stats();
    assert_eq!(
        (stats.hits, stats.misses),
        (hits + 3, misses),
        "camera 1 and the counts were hits: {stats:?}"
    );

    let camera = get(&client, &server.url("/api/cameras/2")).await;
    assert_eq!(
        etag_of(&camera),
        new_etag,
        "GET shows the ETag the PUT returned"
    );
    let body: Value = camera.json().await.expect("camera JSON");
    assert_eq!(body["location"], "Front door");
    let list = get(&client, &server.url("/api/cameras")).await;
    assert_ne!(etag_of(&list), before[2], "the list changed");
    let list: Value = list.json().await.expect("list JSON");
    assert_eq!(list[1]["location"], "Front door");
    assert_eq!(server.stats().misses, misses + 2);
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_entries_by_etag() {
    let server = Server::start();
    let client = Client::new();
    let camera = etag_of(&get(&client, &server.url("/api/cameras/1")).await);
    let list = etag_of(&get(&client, &server.url("/api/cameras")).await);
    let settings = etag_of(&get(&client, &server.url("/api/settings")).await);

    let same_camera =
        json!({ "name": "Garden", "location": "Back garden, facing south", "enabled": true });
    let put = put_json(
        &client,
        &server.url("/api/cameras/1"),
        &same_camera,
        Some(&camera),
    )
    .await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(etag_of(&put), camera, "unchanged: same ETag");

    let same_settings = json!({ "capture_interval_secs": 60, "retention_days": 30 });
    let put = put_json(&client, &server.url("/api/settings"), &same_settings, None).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(etag_of(&put), settings, "unchanged: same ETag");

    // Camera 1 and the settings kept their entries. The list's entry never
    // shows the camera's ETag, which is the only one the camera's PUT
    // answers, so it goes (and comes back with the same ETag).
    let stats = server.settle("two skips", |s| s.invalidations_skipped >= 2);
    assert_eq!(stats.invalidations_skipped, 2, "{stats:?}");
    assert_eq!(stats.invalidations, 1, "the list: {stats:?}");

    let hits = stats.hits;
    for (path, etag) in [
        ("/api/cameras/1", &camera),
        ("/api/cameras", &list),
        ("/api/settings", &settings),
    ] {
        let response = revalidate(&client, &server.url(path), etag).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let stats = server.stats();
    assert_eq!(stats.hits, hits + 2, "still cached: {stats:?}");
    assert_eq!(stats.misses, 4, "the list refilled: {stats:?}");
}

#[tokio::test]
async fn if_match_with_an_old_version_is_412_and_changes_nothing() {
    let server = Server::start();
    let client = Client::new();
    let url = server.url("/api/settings");
    let v1 = etag_of(&get(&client, &url).await);

    let second = json!({ "capture_interval_secs": 30, "retention_days": 30 });
    let put = put_json(&client, &url, &second, Some(&v1)).await;
    assert_eq!(put.status(), StatusCode::OK);
    let v2 = etag_of(&put);
    assert_ne!(v1, v2);
    server.settle("the settings event", |s| s.invalidations >= 1);
    assert_eq!(
        etag_of(&get(&client, &url).await),
        v2,
        "GET shows the PUT's ETag"
    );

    // A writer still holding v1 loses, and learns the current version.
    let third = json!({ "capture_interval_secs": 10, "retention_days": 1 });
    let stale = put_json(&client, &url, &third, Some(&v1)).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag_of(&stale), v2);
    let error: Value = stale.json().await.expect("error JSON");
    assert!(error["error"].is_string());

    // If-Match compares strongly (RFC 9110 §13.1.1): a weak copy never matches.
    let weak = format!("W/{v2}");
    let weak_put = put_json(&client, &url, &third, Some(&weak)).await;
    assert_eq!(weak_put.status(), StatusCode::PRECONDITION_FAILED);

    let current = get(&client, &url).await;
    assert_eq!(etag_of(&current), v2, "nothing changed");
    let body: Value = current.json().await.expect("settings JSON");
    assert_eq!(body["capture_interval_secs"], 30);
    assert_eq!(
        server.stats().invalidations,
        1,
        "the 412s published nothing"
    );

    // The same for a camera; `*` matches any current version.
    let camera_url = server.url("/api/cameras/3");
    let camera = json!({ "name": "Roof", "location": "Roof terrace", "enabled": true });
    let stale = put_json(&client, &camera_url, &camera, Some(r#""3-1""#)).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let any = put_json(&client, &camera_url, &camera, Some("*")).await;
    assert_eq!(any.status(), StatusCode::OK);
}

#[tokio::test]
async fn if_match_round_trips_and_a_missing_camera_is_its_404() {
    let server = Server::start();
    let client = Client::new();
    let url = server.url("/api/cameras/1");
    let read = etag_of(&get(&client, &url).await);
    let camera = json!({ "name": "Garden", "location": "Moved", "enabled": true });

    let put = put_json(&client, &url, &camera, Some(&read)).await;
    assert_eq!(put.status(), StatusCode::OK);
    let new = etag_of(&put);
    assert_ne!(new, read);
    assert_eq!(etag_of(&get(&client, &url).await), new, "read your write");
    let again = put_json(&client, &url, &camera, Some(&read)).await;
    assert_eq!(again.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag_of(&again), new);

    // RFC 9110 §13.2.1: the 404 comes first, except for `If-Match: *`.
    let missing = server.url("/api/cameras/99");
    let tagged = put_json(&client, &missing, &camera, Some(r#""99-1""#)).await;
    assert_eq!(tagged.status(), StatusCode::NOT_FOUND);
    let star = put_json(&client, &missing, &camera, Some("*")).await;
    assert_eq!(star.status(), StatusCode::PRECONDITION_FAILED);
    let capture = client
        .post(server.url("/api/cameras/99/capture"))
        .header("if-match", "*")
        .send()
        .await
        .expect("POST");
    assert_eq!(capture.status(), StatusCode::PRECONDITION_FAILED);

    // A capture guarded by a stale camera ETag records nothing.
    let count = server.url("/api/cameras/1/images/count");
    let before = etag_of(&get(&client, &count).await);
    let stale = client
        .post(server.url("/api/cameras/1/capture"))
        .header("if-match", &read)
        .send()
        .await
        .expect("POST");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag_of(&get(&client, &count).await), before);
}

#[tokio::test]
async fn a_capture_invalidates_that_cameras_images_only() {
    let server = Server::start();
    let client = Client::new();
    let paths = [
        "/api/cameras/1/images/count",
        "/api/cameras/1/images/latest",
        "/api/cameras/2/images/count",
        "/api/cameras/2/images/latest",
        "/api/cameras/1",
    ];
    let mut before = Vec::new();
    for path in paths {
        before.push(etag_of(&get(&client, &server.url(path)).await));
    }

    let capture = client
        .post(server.url("/api/cameras/1/capture"))
        .send()
        .await
        .expect("POST");
    assert_eq!(capture.status(), StatusCode::CREATED);
    let location = header(&capture, "location").expect("Location");
    let image_etag = etag_of(&capture);
    let image: Value = capture.json().await.expect("image JSON");
    assert_eq!(location, format!("/api/images/{}", image["id"]));

    let stats = server.settle("the capture event", |s| s.invalidations >= 2);
    assert_eq!(
        stats.invalidations, 2,
        "camera 1's count and latest: {stats:?}"
    );
    let misses = stats.misses;
    for (path, old) in [
        (paths[2], &before[2]),
        (paths[3], &before[3]),
        (paths[4], &before[4]),
    ] {
        assert_eq!(
            &etag_of(&get(&client, &server.url(path)).await),
            old,
            "{path}"
        );
    }
    assert_eq!(
        server.stats().misses,
        misses,
        "camera 2 and camera 1 itself were hits"
    );

    let count = get(&client, &server.url(paths[0])).await;
    assert_ne!(etag_of(&count), before[0]);
    let count: Value = count.json().await.expect("count JSON");
    assert_eq!(count["count"], 4);
    let latest: Value = get(&client, &server.url(paths[1]))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(latest["id"], image["id"]);

    let created = get(&client, &server.url(&location)).await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(
        etag_of(&created),
        image_etag,
        "the POST gave the GET's ETag"
    );
    let file = get(&client, &server.url(&format!("{location}/file"))).await;
    assert_eq!(file.status(), StatusCode::OK);
    assert!(
        file.text()
            .await
            .expect("svg")
            .contains(&format!("image {}", image["id"]))
    );
}

#[tokio::test]
async fn unknown_ids_are_404_json_and_never_cached() {
    let server = Server::start();
    let client = Client::new();
    let reads = [
        "/api/cameras/99",
        "/api/cameras/99/images/count",
        "/api/cameras/99/images/latest",
        "/api/cameras/3/images/latest",
        "/api/images/999",
        "/api/images/999/file",
    ];
    for path in reads {
        for attempt in 0..2 {
            let response = get(&client, &server.url(path)).await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{path} #{attempt}"
            );
            assert!(
                header(&response, "etag").is_none(),
                "{path}: no validator on an error"
            );
            let body: Value = response.json().await.expect("JSON error");
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not found")),
                "{path}: {body}"
            );
        }
    }
    let stats = server.stats();
    assert_eq!(stats.stores, 0, "{stats:?}");
    assert_eq!(stats.entries, 0, "{stats:?}");
    assert_eq!(stats.hits, 0, "every 404 ran its handler: {stats:?}");

    let camera = json!({ "name": "X", "location": "Y", "enabled": true });
    let put = put_json(&client, &server.url("/api/cameras/99"), &camera, None).await;
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    let capture = client
        .post(server.url("/api/cameras/99/capture"))
        .send()
        .await
        .expect("POST");
    assert_eq!(capture.status(), StatusCode::NOT_FOUND);
    let body: Value = capture.json().await.expect("JSON error");
    assert_eq!(body["error"], "camera 99 not found");
}

#[tokio::test]
async fn malformed_input_is_a_client_error_and_changes_nothing() {
    let server = Server::start();
    let client = Client::new();
    let settings = server.url("/api/settings");
    let v1 = etag_of(&get(&client, &settings).await);

    let raw = |url: String, body: &'static str| {
        client
            .put(url)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases = [
        (raw(settings.clone(), "{"), StatusCode::BAD_REQUEST),
        (
            raw(
                settings.clone(),
                r#"{"capture_interval_secs":"x","retention_days":1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(settings.clone(), r#"{"capture_interval_secs":5}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(
                settings.clone(),
                r#"{"capture_interval_secs":5,"retention_days":1,"x":1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(
                settings.clone(),
                r#"{"capture_interval_secs":0,"retention_days":1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(
                settings.clone(),
                r#"{"capture_interval_secs":-1,"retention_days":1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            client
                .put(settings.clone())
                .body(r#"{"capture_interval_secs":5,"retention_days":1}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            raw(
                server.url("/api/cameras/1"),
                r#"{"name":" ","location":"","enabled":true}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(
                server.url("/api/cameras/1"),
                r#"{"name":"A","location":"B","enabled":"yes"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw(
                server.url("/api/cameras/abc"),
                r#"{"name":"A","location":"B","enabled":true}"#,
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            client.get(server.url("/api/cameras/abc")),
            StatusCode::BAD_REQUEST,
        ),
        (
            client.get(server.url("/api/images/1.5/file")),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (i, (request, expected)) in cases.into_iter().enumerate() {
        let response = request.send().await.expect("request");
        assert_eq!(
            response.status(),
            expected,
            "case {i}: {:?}",
            response.text().await
        );
    }
    // A malformed validator is ignored (treated as absent), never a 500.
    let odd = client
        .get(&settings)
        .header("if-none-match", "not-a-tag")
        .send()
        .await
        .expect("GET");
    assert_eq!(odd.status(), StatusCode::OK);

    assert_eq!(
        etag_of(&get(&client, &settings).await),
        v1,
        "nothing changed"
    );
    let camera: Value = get(&client, &server.url("/api/cameras/1"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(camera["name"], "Garden");
    assert_eq!(
        server.stats().invalidations + server.stats().invalidations_skipped,
        0
    );
}

/// Reads server-sent events from a streaming response.
struct EventReader {
    response: Response,
    buffer: String,
}

impl EventReader {
    /// The next event's name and data, failing after [`PATIENCE`].
    async fn next(&mut self) -> (String, String) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut name, mut data) = (String::from("message"), String::new());
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("event:") {
                            name = value.trim().to_owned();
                        } else if let Some(value) = line.strip_prefix("data:") {
                            data.push_str(value.trim_start());
                        }
                    }
                    // Keep-alive comments carry no data.
                    if !data.is_empty() {
                        return (name, data);
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("stream")
                    .expect("stream still open");
                self.buffer
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            }
        })
        .await
        .expect("an event within the patience")
    }

    /// The next event called `name`, skipping others.
    async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let (event, data) = self.next().await;
            if event == name {
                return serde_json::from_str(&data).expect("JSON data");
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_relays_changes_and_stats() {
    let server = Server::start();
    let client = Client::new();
    let response = get(&client, &server.url("/api/events")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/event-stream")
    );
    let mut events = EventReader {
        response,
        buffer: String::new(),
    };

    let stats = events.next_named("stats").await;
    assert!(
        stats["hits"].is_u64() && stats["bytes_saved"].is_u64(),
        "{stats}"
    );

    let camera = json!({ "name": "Street", "location": "Garage", "enabled": false });
    let put = put_json(&client, &server.url("/api/cameras/2"), &camera, None).await;
    let etag = etag_of(&put);
    let written = events.next_named("invalidate").await;
    assert_eq!(written["tags"], json!(["camera:2", "cameras:list"]));
    assert_eq!(written["etag"], json!(etag));

    client
        .post(server.url("/api/cameras/2/capture"))
        .send()
        .await
        .expect("POST");
    let capture = events.next_named("invalidate").await;
    assert_eq!(capture["tags"], json!(["camera:2:images"]));
    // The new image's ETag, which no entry of the camera's images shows.
    assert!(capture["etag"].is_string(), "{capture}");

    // Stats keep coming, and count what happened since.
    let _ = get(&client, &server.url("/api/settings")).await;
    let counted = tokio::time::timeout(PATIENCE, async {
        while events.next_named("stats").await["misses"] != json!(1) {}
    })
    .await;
    assert!(counted.is_ok(), "no stats event counted the GET");
}

#[tokio::test]
async fn the_page_lists_cameras_and_live_stats() {
    let server = Server::start();
    let response = get(&Client::new(), &server.url("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        header(&response, "content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let page = response.text().await.expect("page");
    for id in [
        "cameras",
        "stat-hits",
        "stat-not-modified",
        "stat-bytes-saved",
        "selftest",
    ] {
        assert!(page.contains(&format!(r#"id="{id}""#)), "#{id}");
    }
    assert!(page.contains(r#"new EventSource("/api/events")"#));
}

#[tokio::test]
async fn data_and_schema_survive_a_restart() {
    let server = Server::start();
    let client = Client::new();
    let camera = json!({ "name": "Garden", "location": "Pond", "enabled": false });
    let put = put_json(&client, &server.url("/api/cameras/1"), &camera, None).await;
    let etag = etag_of(&put);
    let capture = client
        .post(server.url("/api/cameras/1/capture"))
        .send()
        .await
        .expect("POST");
    assert_eq!(capture.status(), StatusCode::CREATED);
    let dir = server.shutdown();

    // Same data dir: migrations do not run again, the seed is not re-inserted.
    let again = Server::start_in(dir);
    let response = get(&client, &again.url("/api/cameras/1")).await;
    assert_eq!(
        etag_of(&response),
        etag,
        "same version, same ETag after a restart"
    );
    let list: Value = get(&client, &again.url("/api/cameras"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    assert_eq!(list[0]["location"], "Pond");
    let count: Value = get(&client, &again.url("/api/cameras/1/images/count"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(count["count"], 4);
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let server = Server::start();
    let client = Client::new();
    let response = get(&client, &server.url("/api/events")).await;
    let mut events = EventReader {
        response,
        buffer: String::new(),
    };
    events.next_named("stats").await;

    // `shutdown` fails the test unless the service stops, which a graceful
    // shutdown does only once the stream has ended.
    let _ = tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .expect("shutdown");
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
}
