//! What the browser watches: `/api/events` relays every invalidation event
//! the cache applies ([`cached_etag::Cache::subscribe`]) as server-sent
//! events (`event: invalidate`, the event as JSON) and, every few seconds,
//! the counters per route (`event: routes`, [`Cache::route_stats`]) then
//! the cache's totals (`event: stats`); `/api/stats` and `/api/routes` are
//! the same on demand.
//!
//! [`Cache::route_stats`]: cached_etag::Cache::route_stats

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use std::collections::BTreeMap;

use cached_etag::{RouteStats, Stats};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

/// `GET /api/stats`.
pub async fn stats(State(app): State<AppState>) -> Json<Stats> {
    Json(app.cache.stats())
}

/// `GET /api/routes`: what the cache did for each route, by handler name.
pub async fn routes(State(app): State<AppState>) -> Json<BTreeMap<&'static str, RouteStats>> {
    Json(app.cache.route_stats())
}

/// `GET /api/events`. Starts with a `stats` event, so that a page has
/// numbers at once; ends when the service shuts down.
pub async fn events(
    State(app): State<AppState>,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let changes = stream::unfold(app.cache.subscribe(), |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(event) => sse::Event::default().event("invalidate").json_data(&event),
                // This client missed events; the page refetches everything.
                Err(RecvError::Lagged(missed)) => sse::Event::default()
                    .event("lagged")
                    .json_data(serde_json::json!({ "missed": missed })),
                Err(RecvError::Closed) => return None,
            };
            // Serialising these plain structs cannot fail; skip one if it did.
            if let Ok(event) = event {
                return Some((event, receiver));
            }
        }
    });
    // `interval` ticks at once, then every period.
    let ticks = tokio::time::interval(app.stats_interval);
    let counters = stream::unfold(
        (ticks, app.cache.clone()),
        |(mut ticks, cache)| async move {
            ticks.tick().await;
            // Routes first: a page that stops at a `stats` event has both.
            let routes = sse::Event::default()
                .event("routes")
                .json_data(cache.route_stats())
                .unwrap_or_else(|_| sse::Event::default().comment("routes unavailable"));
            let stats = sse::Event::default()
                .event("stats")
                .json_data(cache.stats())
                .unwrap_or_else(|_| sse::Event::default().comment("stats unavailable"));
            Some((stream::iter([routes, stats]), (ticks, cache)))
        },
    )
    .flatten();
    let stream = stream::select(changes, counters)
        .take_until(app.shutdown.triggered())
        .map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
