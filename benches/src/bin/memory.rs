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
//!
//! A second table is the floor under that figure: a bare `quick_cache` map
//! (the one the memory store is built on, sized alike) from keys of the
//! same lengths, each in its own `Arc`, to one buffer of the entry's ETag
//! text and body, shared once as a hit shares it. That is what holding
//! the key, the tag and the body costs before any bookkeeping of the
//! cache's own (times, headers, tags, status).

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

/// The same policy with a tag every entry shares and, per call, one tag
/// of the entry's own, as `tags("smalls", "small:{id}")` gives.
static TAGGED: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("bench::small")
        .ttl(Duration::from_secs(3600))
        .tags(&["smalls"])
        .build()
});

async fn fill(cache: &Cache, ids: std::ops::Range<u64>, tagged: bool) -> (u64, u64) {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static(HOST));
    let (mut key_bytes, mut body_bytes) = (0, 0);
    for id in ids {
        let path = format!("/small?id={id}");
        let (policy, tags) = if tagged {
            (&*TAGGED, vec![format!("small:{id}")])
        } else {
            (&*SMALL, Vec::new())
        };
        let uri: Uri = path.parse().expect("a valid URI");
        let head = RequestHead {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
        };
        let response: Response = cache
            .respond(head, policy, tags, None, async move {
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

/// Fills a bare map with `n` entries shaped like `fill`'s, and returns the
/// key and body bytes it holds beyond the tag's text.
fn fill_floor(
    map: &quick_cache::sync::Cache<Arc<[u8]>, bytes::Bytes>,
    ids: std::ops::Range<u64>,
) -> (u64, u64) {
    let (mut key_bytes, mut body_bytes) = (0, 0);
    for id in ids {
        let path = format!("/small?id={id}");
        let key_len = SMALL.id().len() + "GET".len() + HOST.len() + path.len();
        let mut key = format!("{id}/").into_bytes();
        key.resize(key_len, b'k');
        let body = id.to_string();
        let tag = cached_etag::ETag::from_content(body.as_bytes()).to_string();
        let both = bytes::Bytes::from([tag.as_bytes(), body.as_bytes()].concat());
        // A hit's first clone makes the shared handle: as the cache's does.
        drop(both.clone());
        map.insert(Arc::from(key), both);
        key_bytes += key_len as u64;
        body_bytes += body.len() as u64;
    }
    (key_bytes, body_bytes)
}

/// Bytes per entry beyond its key and body: a cache's, through the request
/// path, after one read of each entry.
async fn cache_per_entry(n: u64, tagged: bool) -> f64 {
    let cache = Cache::builder()
        // quick_cache evicts some before its estimated capacity is
        // reached (its shards fill unevenly): a quarter to spare.
        .max_entries((n as usize + 1_000) * 5 / 4)
        .max_bytes(8 << 30)
        .build();
    // Warm the allocator and the policy with a first thousand entries,
    // so that the growth measured is the entries'.
    fill(&cache, 0..1_000, tagged).await;
    let before = rss_bytes();
    let (keys, bodies) = fill(&cache, 1_000..1_000 + n, tagged).await;
    // Read each entry once: a first hit shares its body and ETag, which
    // takes the allocations `Bytes` makes when it is first cloned.
    fill(&cache, 1_000..1_000 + n, tagged).await;
    let after = rss_bytes();
    let stats = cache.stats();
    assert_eq!(stats.entries, n + 1_000, "every entry resident");
    assert_eq!(stats.hits, n, "every entry read once");
    (after - before) as f64 / n as f64 - (keys + bodies) as f64 / n as f64
}

/// The same for the bare map.
fn floor_per_entry(n: u64) -> f64 {
    let map = quick_cache::sync::Cache::new((n as usize + 1_000) * 5 / 4);
    fill_floor(&map, 0..1_000);
    let before = rss_bytes();
    let (keys, bodies) = fill_floor(&map, 1_000..1_000 + n);
    let after = rss_bytes();
    assert_eq!(map.len() as u64, n + 1_000, "every entry resident");
    (after - before) as f64 / n as f64 - (keys + bodies) as f64 / n as f64
}

/// One measurement in a process of its own: memory freed by an earlier one
/// would be reused without growing the resident set.
fn measured(what: &str, n: u64) -> f64 {
    let exe = std::env::current_exe().expect("this program's path");
    let out = std::process::Command::new(exe)
        .args([what, &n.to_string()])
        .output()
        .expect("run a measurement");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number of bytes")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [what, n] = &args[..] {
        let n = n.parse().expect("a count of entries");
        let per = match what.as_str() {
            "cache" => cache_per_entry(n, false).await,
            "tagged" => cache_per_entry(n, true).await,
            _ => floor_per_entry(n),
        };
        println!("{per}");
        return;
    }
    println!("Bytes per entry beyond its key and body:");
    println!();
    println!(
        "| entries | cached-etag | floor: a bare map of key to tag and body \
         | cached-etag over the floor | tagged: one shared tag and one of its own |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in [10_000u64, 100_000, 1_000_000] {
        let ours = measured("cache", n);
        let floor = measured("floor", n);
        let tagged = measured("tagged", n);
        println!(
            "| {n} | **{ours:.0} B** | {floor:.0} B | {:.0} B | {tagged:.0} B |",
            ours - floor
        );
    }
}
