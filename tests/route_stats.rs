//! `Cache::route_stats`: what the cache did for each route, by the
//! policy's readable name, for handlers with the attribute and for the
//! layer's routes alike, without a metrics recorder; and two caches that
//! serve one handler keep their counts apart.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, CacheLayer, ETag, Policy, cached_etag};
use tokio::sync::Notify;

#[allow(dead_code)]
#[path = "safety/support.rs"]
mod support;

use support::{FakeStore, get as request, send};

#[cached_etag(tags("docs"))]
async fn doc(State(gate): State<Gate>) -> &'static str {
    gate.pass().await;
    "a document"
}

#[cached_etag(check = version(&gate))]
async fn checked(State(gate): State<Gate>) -> &'static str {
    let _ = gate;
    "checked"
}

async fn version(_: &Gate) -> ETag {
    ETag::from_string("v1")
}

/// Holds handler runs back while closed, so that requests can be made to
/// wait for one fill.
#[derive(Clone, Default)]
struct Gate {
    closed: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Notify>,
}

impl Gate {
    async fn pass(&self) {
        let notified = self.open.notified();
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            notified.await;
        }
    }
}

fn app(cache: &Cache, gate: Gate) -> Router {
    let pages = Policy::builder("pages").build();
    Router::new()
        .route("/doc", get(doc))
        .route("/checked", get(checked))
        .route(
            "/pages/{id}",
            get(|Path(id): Path<u32>| async move { format!("page {id}") }),
        )
        .route_layer(
            CacheLayer::routes_only()
                .route("/pages/{id}", pages, &["pages"])
                .cache(cache.clone()),
        )
        .with_state(gate)
        .layer(Extension(cache.clone()))
}

#[tokio::test]
async fn each_route_counts_its_own_hits_304s_bypasses_and_invalidations() {
    let cache = Cache::new();
    let app = app(&cache, Gate::default());
    let first = send(&app, request("/doc", &[])).await;
    let etag = first.header("etag").unwrap().to_owned();
    send(&app, request("/doc", &[])).await;
    // 304 from the stored entry.
    let reply = send(&app, request("/doc", &[("if-none-match", &etag)])).await;
    assert_eq!(reply.status, 304);
    // A credentialed request bypasses the shared cache; its 304 comes
    // after the handler ran.
    let token = ("authorization", "Bearer t");
    let reply = send(&app, request("/doc", &[token, ("if-none-match", &etag)])).await;
    assert_eq!(reply.status, 304);
    // 304 from the check alone.
    let reply = send(&app, request("/checked", &[("if-none-match", "W/\"v1\"")])).await;
    assert_eq!(reply.status, 304);
    // The check also judges If-Match: a 412, not a 304.
    let reply = send(&app, request("/checked", &[("if-match", "\"other\"")])).await;
    assert_eq!(reply.status, 412);
    // The layer's route.
    send(&app, request("/pages/1", &[])).await;
    send(&app, request("/pages/1", &[])).await;
    send(&app, request("/pages/2", &[])).await;
    // An unchanged ETag keeps the entry; a changed one removes it.
    let kept = ETag::parse(etag.as_bytes()).unwrap();
    cache.invalidate_tags_if_changed(&["docs"], &kept).await;
    cache.invalidate_tag("pages").await;

    let routes = cache.route_stats();
    let doc = routes["route_stats::doc"];
    assert_eq!((doc.hits, doc.misses, doc.stores), (2, 2, 1));
    assert_eq!(doc.bypassed, 1);
    assert_eq!(
        (
            doc.not_modified_from_store,
            doc.not_modified_after_fill,
            doc.not_modified_by_check
        ),
        (1, 1, 0)
    );
    assert_eq!(doc.bytes_saved, 2 * "a document".len() as u64);
    assert_eq!((doc.invalidations, doc.invalidations_skipped), (0, 1));
    let checked = routes["route_stats::checked"];
    assert_eq!(
        (checked.not_modified_by_check, checked.hits, checked.misses),
        (1, 0, 0)
    );
    assert_eq!(checked.precondition_failed, 1);
    let pages = routes["pages"];
    assert_eq!((pages.hits, pages.misses, pages.stores), (1, 2, 2));
    assert_eq!(pages.invalidations, 2);
    assert_eq!(pages.hit_ratio(), Some(1.0 / 3.0));
    // The totals are the routes added up.
    let total = cache.stats();
    assert_eq!(total.hits, doc.hits + pages.hits);
    assert_eq!(
        total.not_modified,
        doc.not_modified() + checked.not_modified()
    );
}

#[tokio::test]
async fn requests_waiting_for_one_fill_are_counted_on_their_route() {
    let cache = Cache::new();
    let gate = Gate::default();
    gate.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = app(&cache, gate.clone());
    let leader = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("/doc", &[])).await }
    });
    let waiter = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("/doc", &[])).await }
    });
    while cache.stats().coalesced == 0 {
        tokio::task::yield_now().await;
    }
    gate.closed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    gate.open.notify_waiters();
    assert_eq!(leader.await.unwrap().body, "a document");
    assert_eq!(waiter.await.unwrap().body, "a document");
    let doc = cache.route_stats()["route_stats::doc"];
    assert_eq!((doc.coalesced, doc.misses, doc.stores), (1, 2, 1));
}

#[tokio::test]
async fn store_errors_are_counted_on_the_route_that_met_them() {
    let store = FakeStore::default();
    store.fail(true);
    let cache = Cache::builder().store(store).build();
    let app = app(&cache, Gate::default());
    let reply = send(&app, request("/pages/7", &[])).await;
    assert_eq!(reply.status, 200, "a failing store makes the handler run");
    let pages = cache.route_stats()["pages"];
    // The lookup and the put both failed.
    assert_eq!(pages.store_errors, 2);
    assert_eq!(cache.stats().store_errors, 2);
}

#[tokio::test]
async fn two_caches_serving_one_handler_keep_their_counts_apart() {
    let (one, two) = (Cache::new(), Cache::new());
    let (first, second) = (app(&one, Gate::default()), app(&two, Gate::default()));
    send(&first, request("/doc", &[])).await;
    send(&first, request("/doc", &[])).await;
    send(&second, request("/doc", &[])).await;
    send(&first, request("/pages/1", &[])).await;
    let (one, two) = (one.route_stats(), two.route_stats());
    let (a, b) = (one["route_stats::doc"], two["route_stats::doc"]);
    assert_eq!((a.misses, a.hits), (1, 1));
    assert_eq!((b.misses, b.hits), (1, 0));
    assert!(one.contains_key("pages"));
    assert!(
        !two.contains_key("pages"),
        "a route this cache never served"
    );
}
