//! What the `metrics` feature costs a hit: a `Cache::respond` hit (200) and
//! a hit answered 304, with no recorder (the handles are no-ops) and with
//! the Prometheus recorder, in one run. The two are measured in
//! alternating rounds, so that a noisy neighbour shows as a difference
//! between rounds rather than between the two.
//!
//! `cargo bench -p cached-etag-benches --bench metrics`

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use cached_etag_runtime::{Cache, Fresh, Policy, RequestHead};
use criterion::{Criterion, criterion_group, criterion_main};
use http::request::Parts;
use metrics_exporter_prometheus::PrometheusBuilder;

static PLAIN: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("bench::plain").build());
static RECORDED: LazyLock<Arc<Policy>> =
    LazyLock::new(|| Policy::builder("bench::recorded").build());

fn parts(if_none_match: Option<&str>) -> Parts {
    let mut request = http::Request::get("/item?id=1")
        .header("host", "localhost")
        .header("accept", "application/json");
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    request.body(()).unwrap().into_parts().0
}

async fn fill() -> Fresh<Body> {
    Fresh::new(http::Response::new(Body::from(vec![b'x'; 2048])))
}

/// Fills the entry; returns its ETag.
fn prime(rt: &tokio::runtime::Runtime, cache: &Cache, policy: &Arc<Policy>) -> String {
    let parts = parts(None);
    let response = rt.block_on(cache.respond::<Body, _>(
        RequestHead::from(&parts),
        policy,
        Vec::new(),
        None,
        fill(),
    ));
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn hits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = Cache::builder().name("plain").build();
    let plain_etag = prime(&rt, &plain, &PLAIN);
    // The recorded cache registers its handles with the Prometheus
    // recorder: on its build and on its route's first request.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (recorded, recorded_etag) = metrics::with_local_recorder(&recorder, || {
        let cache = Cache::builder().name("recorded").build();
        let etag = prime(&rt, &cache, &RECORDED);
        (cache, etag)
    });
    let cases = [
        ("no_recorder", &plain, &*PLAIN, plain_etag),
        ("prometheus", &recorded, &*RECORDED, recorded_etag),
    ];
    let mut group = c.benchmark_group("metrics");
    for round in 1..=2 {
        for (name, cache, policy, etag) in &cases {
            let ok = parts(None);
            group.bench_function(format!("hit_200/{name}/round{round}"), |b| {
                b.to_async(&rt).iter(|| {
                    cache.respond::<Body, _>(
                        RequestHead::from(&ok),
                        policy,
                        Vec::new(),
                        None,
                        fill(),
                    )
                })
            });
            let not_modified = parts(Some(etag));
            group.bench_function(format!("hit_304/{name}/round{round}"), |b| {
                b.to_async(&rt).iter(|| {
                    let head = RequestHead::from(&not_modified);
                    cache.respond::<Body, _>(head, policy, Vec::new(), None, fill())
                })
            });
        }
    }
    group.finish();
    // The recorded series did move: the bench measured the recorder's path.
    let text = handle.render();
    assert!(
        text.contains("cached_etag_hits_total{cache=\"recorded\",route=\"bench::recorded\"}"),
        "{text}"
    );
    assert!(!text.contains("bench::plain"), "{text}");
}

criterion_group!(benches, hits);
criterion_main!(benches);
