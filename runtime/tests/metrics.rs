//! The `metrics` feature: each route's series move with what the cache did
//! for it, under the cache's name, and the memory gauges follow the store.
//! A test binary of its own: the recorder is process-wide.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use cached_etag_runtime::{Cache, ETag, Fresh, Policy, RequestHead};
use http_body_util::Full;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

type Body = Full<Bytes>;

static IMAGES: LazyLock<Arc<Policy>> =
    LazyLock::new(|| Policy::builder("app::image").tags(&["images"]).build());
static SETTINGS: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("app::settings").build());

const IMAGE: &str = "an image of forty bytes, give or take...";

async fn get(cache: &Cache, policy: &Arc<Policy>, path: &str, if_none_match: Option<&str>) -> u16 {
    let mut request = http::Request::get(path).header("host", "test");
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let response: http::Response<Body> = cache
        .respond(RequestHead::from(&parts), policy, Vec::new(), None, async {
            Fresh::new(http::Response::new(Body::from(IMAGE)))
        })
        .await;
    response.status().as_u16()
}

/// Every series as `name{label=value,…}` (labels sorted) to its value.
fn series(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn counter(all: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match all.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_route_s_series_move_with_what_the_cache_did_for_it() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder");

    let cache = Cache::builder().name("main").build();
    assert_eq!(get(&cache, &IMAGES, "/images/1", None).await, 200);
    assert_eq!(get(&cache, &IMAGES, "/images/1", None).await, 200);
    let etag = ETag::from_content(IMAGE.as_bytes()).to_string();
    assert_eq!(get(&cache, &IMAGES, "/images/1", Some(&etag)).await, 304);
    // A miss whose client already holds the version: a 304 after the fill.
    assert_eq!(get(&cache, &IMAGES, "/images/2", Some(&etag)).await, 304);
    assert_eq!(get(&cache, &SETTINGS, "/settings", None).await, 200);
    let entries = cache.stats().entries;
    cache.invalidate_tag("images").await;

    let all = series(&snapshotter);
    let image = |name: &str| format!("{name}{{cache=main,route=app::image}}");
    let settings = |name: &str| format!("{name}{{cache=main,route=app::settings}}");
    assert_eq!(counter(&all, &image("cached_etag_hits_total")), 2);
    assert_eq!(counter(&all, &image("cached_etag_misses_total")), 2);
    assert_eq!(counter(&all, &image("cached_etag_stores_total")), 2);
    assert_eq!(counter(&all, &image("cached_etag_invalidations_total")), 2);
    let not_modified = |source: &str| {
        format!("cached_etag_not_modified_total{{cache=main,route=app::image,source={source}}}")
    };
    assert_eq!(counter(&all, &not_modified("store")), 1);
    assert_eq!(counter(&all, &not_modified("fill")), 1);
    assert_eq!(counter(&all, &not_modified("check")), 0);
    let saved = counter(&all, &image("cached_etag_saved_bytes_total"));
    assert_eq!(saved, 2 * IMAGE.len() as u64);
    match &all[&image("cached_etag_not_modified_size_bytes")] {
        DebugValue::Histogram(sizes) => {
            assert_eq!(sizes.len(), 2);
            assert!(sizes.iter().all(|s| s.0 == IMAGE.len() as f64));
        }
        other => panic!("{other:?}"),
    }
    match &all[&image("cached_etag_fill_duration_seconds")] {
        DebugValue::Histogram(fills) => assert_eq!(fills.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(counter(&all, &settings("cached_etag_misses_total")), 1);
    assert_eq!(counter(&all, &settings("cached_etag_hits_total")), 0);
    assert_eq!(
        counter(&all, &settings("cached_etag_invalidations_total")),
        0
    );
    assert_eq!(entries, 3);
    // After the invalidation, the gauge holds the settings entry alone.
    match &all["cached_etag_entries{cache=main}"] {
        DebugValue::Gauge(n) => assert_eq!(n.0, 1.0),
        other => panic!("{other:?}"),
    }
    // The same counts without a recorder.
    let route = cache.route_stats()["app::image"];
    assert_eq!((route.hits, route.misses, route.not_modified()), (2, 2, 2));
    assert_eq!(route.bytes_saved, saved);
}
