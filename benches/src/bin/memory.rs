//! Resident memory per cache entry: fills a cache with `N` small entries
//! through the same request path a server's `/small?id=N` takes, reads each
//! once, and prints
//! the growth of the process's resident set per entry, beyond the entry's
//! key and body, at 10k, 100k and 1M entries.
//!
//!     cargo run --release -p cached-etag-benches --bin memory
//!
//! RSS (from `/proc/self/statm`) is what a deployment pays: it includes
//! the allocator's own overhead, which counting allocated bytes would not.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use cached_etag::{Cache, Policy, RequestHead};

static SMALL: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("bench::small")
        .ttl(Duration::from_secs(3600))
        .build()
});

const HOST: &str = "127.0.0.1:18088";

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

async fn fill(cache: &Cache, ids: std::ops::Range<u64>) -> (u64, u64) {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static(HOST));
    let (mut key_bytes, mut body_bytes) = (0, 0);
    for id in ids {
        let path = format!("/small?id={id}");
        let uri: Uri = path.parse().expect("a valid URI");
        let head = RequestHead {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
        };
        let response: Response = cache
            .respond(head, &SMALL, Vec::new(), None, async move {
                cached_etag::hash(Json(id))
            })
            .await;
        // The key holds the handler's name, method, authority and path.
        key_bytes += (SMALL.id().len() + "GET".len() + HOST.len() + path.len()) as u64;
        body_bytes += id.to_string().len() as u64;
        drop(response);
    }
    (key_bytes, body_bytes)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| entries | RSS growth per entry | key + body per entry | beyond key and body |");
    println!("|---:|---:|---:|---:|");
    for n in [10_000u64, 100_000, 1_000_000] {
        let cache = Cache::builder()
            // quick_cache evicts some before its estimated capacity is
            // reached (its shards fill unevenly): a quarter to spare.
            .max_entries((n as usize + 1_000) * 5 / 4)
            .max_bytes(8 << 30)
            .build();
        // Warm the allocator and the policy with a first thousand entries,
        // so that the growth measured is the entries'.
        fill(&cache, 0..1_000).await;
        let before = rss_bytes();
        let (keys, bodies) = fill(&cache, 1_000..1_000 + n).await;
        // Read each entry once: a first hit shares its body and ETag, which
        // takes the allocations `Bytes` makes when it is first cloned.
        fill(&cache, 1_000..1_000 + n).await;
        let after = rss_bytes();
        let stats = cache.stats();
        assert_eq!(stats.entries, n + 1_000, "every entry resident");
        assert_eq!(stats.hits, n, "every entry read once");
        let per = (after - before) as f64 / n as f64;
        let own = (keys + bodies) as f64 / n as f64;
        println!("| {n} | {per:.0} B | {own:.0} B | **{:.0} B** |", per - own);
        drop(cache);
    }
}
