//! Compressed variants over real axum routing, each behaviour against a
//! `#[cached_etag]` handler and its twin behind `CacheLayer`: every coding
//! decodes to the stored body, answers carry the right `Vary`,
//! `Content-Encoding` and ETag, each variant's tag revalidates, and what
//! must not be compressed is not.

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use cached_etag::compression::{Coding, Compression};
use cached_etag::{Cache, CacheLayer, Policy, cached_etag};
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[allow(dead_code)]
#[path = "safety/support.rs"]
mod support;

use support::Runs;

/// A JSON document of about 4 KB.
fn document() -> String {
    let items: Vec<String> = (0..60)
        .map(|i| format!(r#"{{"id":{i},"name":"camera-{i:03}","location":"north gate"}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

fn json(body: String) -> Response {
    ([("content-type", "application/json")], body).into_response()
}

fn png() -> Response {
    // Compressible bytes, but an image type: left as they are.
    ([("content-type", "image/png")], "PNG ".repeat(1024)).into_response()
}

// The annotated handlers.

#[cached_etag(strong)]
async fn doc(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(document())
}

#[cached_etag]
async fn weak(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(document())
}

#[cached_etag(strong, vary("accept-language"))]
async fn varied(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(document())
}

#[cached_etag(strong)]
async fn small(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(r#"{"ok":true}"#.to_owned())
}

#[cached_etag(strong)]
async fn image(State(runs): State<Runs>) -> Response {
    runs.bump();
    png()
}

// Their twins.

async fn plain_doc(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(document())
}

async fn plain_small(State(runs): State<Runs>) -> Response {
    runs.bump();
    json(r#"{"ok":true}"#.to_owned())
}

async fn plain_image(State(runs): State<Runs>) -> Response {
    runs.bump();
    png()
}

#[derive(Clone, Copy, Debug)]
enum Twin {
    Attribute,
    Layer,
}

const BOTH: [Twin; 2] = [Twin::Attribute, Twin::Layer];

fn app(twin: Twin, cache: &Cache, runs: &Runs) -> Router {
    let router = match twin {
        Twin::Attribute => Router::new()
            .route("/doc", get(doc))
            .route("/weak", get(weak))
            .route("/varied", get(varied))
            .route("/small", get(small))
            .route("/image", get(image)),
        Twin::Layer => {
            let strong = |name| Policy::builder(name).strong().build();
            Router::new()
                .route("/doc", get(plain_doc))
                .route("/weak", get(plain_doc))
                .route("/varied", get(plain_doc))
                .route("/small", get(plain_small))
                .route("/image", get(plain_image))
                .route_layer(
                    CacheLayer::new(strong("compression::others"))
                        .cache(cache.clone())
                        .route("/weak", Policy::builder("compression::weak").build(), &[])
                        .route(
                            "/varied",
                            Policy::builder("compression::varied")
                                .strong()
                                .vary(&["accept-language"])
                                .build(),
                            &[],
                        ),
                )
        }
    };
    router
        .with_state(runs.clone())
        .layer(axum::Extension(cache.clone()))
}

fn setup(twin: Twin) -> (Router, Cache, Runs) {
    let (cache, runs) = (Cache::new(), Runs::default());
    (app(twin, &cache, &runs), cache, runs)
}

/// A response as these tests read it: the body as bytes, not decoded.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn vary(&self) -> Vec<String> {
        self.headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(|m| m.trim().to_ascii_lowercase())
            .collect()
    }

    /// The body with its `Content-Encoding` undone.
    fn decoded(&self) -> Vec<u8> {
        decode(self.header("content-encoding"), &self.body)
    }
}

fn decode(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("br");
        }
        Some("zstd") => out = zstd::decode_all(body).expect("zstd"),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

async fn send_with(app: &Router, method: &str, target: &str, headers: &[(&str, &[u8])]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "compression");
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

async fn send(app: &Router, target: &str, headers: &[(&str, &str)]) -> Reply {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    send_with(app, "GET", target, &headers).await
}

const CODINGS: [&str; 3] = ["gzip", "br", "zstd"];

/// `"abc"` and `gzip` make `"abc-gzip"`.
fn suffixed(etag: &str, coding: &str) -> String {
    format!("{}-{coding}\"", etag.strip_suffix('"').unwrap())
}

#[tokio::test]
async fn each_coding_decodes_to_the_stored_body_from_one_run() {
    for twin in BOTH {
        let (app, _cache, runs) = setup(twin);
        let identity = send(&app, "/doc", &[]).await;
        assert_eq!(identity.body, document().as_bytes(), "{twin:?}");
        for coding in CODINGS {
            for _ in 0..2 {
                let coded = send(&app, "/doc", &[("accept-encoding", coding)]).await;
                assert_eq!(coded.status, StatusCode::OK, "{twin:?}");
                assert_eq!(coded.header("content-encoding"), Some(coding), "{twin:?}");
                assert!(
                    coded.body.len() < identity.body.len() / 2,
                    "{twin:?} {coding}"
                );
                assert_eq!(coded.decoded(), identity.body, "{twin:?} {coding}");
                assert_eq!(coded.header("content-type"), Some("application/json"));
            }
        }
        assert_eq!(runs.get(), 1, "{twin:?}: one handler run for every variant");
    }
}

#[tokio::test]
async fn every_answer_from_a_compressible_entry_varies_on_accept_encoding() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        let identity = send(&app, "/doc", &[]).await;
        assert_eq!(identity.vary(), ["accept-encoding"], "{twin:?}");
        let coded = send(&app, "/doc", &[("accept-encoding", "gzip")]).await;
        assert_eq!(coded.vary(), ["accept-encoding"], "{twin:?}");
        // Merged into the policy's own Vary, in one field line.
        let varied = send(&app, "/varied", &[("accept-encoding", "br")]).await;
        assert_eq!(varied.header("content-encoding"), Some("br"));
        assert_eq!(varied.headers.get_all("vary").iter().count(), 1, "{twin:?}");
        assert_eq!(
            varied.vary(),
            ["accept-language", "accept-encoding"],
            "{twin:?}"
        );
        let varied = send(&app, "/varied", &[]).await;
        assert_eq!(
            varied.vary(),
            ["accept-language", "accept-encoding"],
            "{twin:?}"
        );
    }
}

#[tokio::test]
async fn strong_tags_differ_per_variant_and_weak_tags_do_not() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        let identity = send(&app, "/doc", &[])
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        assert!(identity.starts_with('"'), "{twin:?}: strong");
        for coding in CODINGS {
            let coded = send(&app, "/doc", &[("accept-encoding", coding)]).await;
            let expected = suffixed(&identity, coding);
            assert_eq!(coded.header("etag"), Some(expected.as_str()), "{twin:?}");
        }
        let weak = send(&app, "/weak", &[])
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        assert!(weak.starts_with("W/"), "{twin:?}");
        for coding in CODINGS {
            let coded = send(&app, "/weak", &[("accept-encoding", coding)]).await;
            assert_eq!(coded.header("content-encoding"), Some(coding), "{twin:?}");
            assert_eq!(coded.header("etag"), Some(weak.as_str()), "{twin:?}");
        }
    }
}

#[tokio::test]
async fn each_variants_tag_revalidates_to_a_304_carrying_that_variants_headers() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        let identity = send(&app, "/doc", &[])
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        for coding in CODINGS {
            let tag = suffixed(&identity, coding);
            let headers = [("accept-encoding", coding), ("if-none-match", tag.as_str())];
            let reply = send(&app, "/doc", &headers).await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{twin:?} {coding}");
            assert_eq!(reply.header("etag"), Some(tag.as_str()), "{twin:?}");
            assert_eq!(reply.vary(), ["accept-encoding"], "{twin:?}");
            assert!(reply.body.is_empty());
            // A client that holds this variant and now prefers another
            // (which it also accepts) keeps the one it holds.
            let headers = [
                ("accept-encoding", "br, zstd, gzip"),
                ("if-none-match", tag.as_str()),
            ];
            let reply = send(&app, "/doc", &headers).await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{twin:?} {coding}");
            assert_eq!(reply.header("etag"), Some(tag.as_str()), "{twin:?}");
        }
        // The identity tag, from a client that accepts identity.
        let reply = send(
            &app,
            "/doc",
            &[("accept-encoding", "gzip"), ("if-none-match", &identity)],
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{twin:?}");
        assert_eq!(reply.header("etag"), Some(identity.as_str()));
        // A variant the client no longer accepts is not what it is sent.
        let gzip = suffixed(&identity, "gzip");
        let reply = send(
            &app,
            "/doc",
            &[
                ("accept-encoding", "br, gzip;q=0"),
                ("if-none-match", &gzip),
            ],
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{twin:?}");
        assert_eq!(reply.header("content-encoding"), Some("br"));
        // A tag of another entry's version revalidates nothing.
        let stale = r#""old-gzip""#;
        let reply = send(
            &app,
            "/doc",
            &[("accept-encoding", "gzip"), ("if-none-match", stale)],
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{twin:?}");
        assert_eq!(runs.get(), 1, "{twin:?}");
        assert_eq!(cache.stats().not_modified, 7, "{twin:?}");
        // A weak tag matches whatever variant is chosen.
        let weak = send(&app, "/weak", &[])
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        let reply = send(
            &app,
            "/weak",
            &[("accept-encoding", "zstd"), ("if-none-match", &weak)],
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{twin:?}");
        assert_eq!(reply.header("etag"), Some(weak.as_str()));
    }
}

#[tokio::test]
async fn identity_when_no_coding_is_asked_for() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        for accept in [
            None,
            Some("identity"),
            Some("identity;q=1, *;q=0"),
            Some(""),
            Some("gzip;q=0, br;q=0, zstd;q=0"),
            Some("deflate, compress"),
        ] {
            let headers: Vec<(&str, &str)> =
                accept.map(|a| ("accept-encoding", a)).into_iter().collect();
            let reply = send(&app, "/doc", &headers).await;
            assert_eq!(reply.status, StatusCode::OK, "{twin:?} {accept:?}");
            assert_eq!(
                reply.header("content-encoding"),
                None,
                "{twin:?} {accept:?}"
            );
            assert_eq!(reply.body, document().as_bytes(), "{twin:?} {accept:?}");
        }
    }
}

#[tokio::test]
async fn the_clients_preference_wins_and_q0_is_honoured() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        let cases = [
            ("gzip, deflate, br, zstd", "br"),
            ("gzip;q=1, br;q=0.5", "gzip"),
            ("br;q=0, *", "zstd"),
            ("br;q=0, zstd;q=0, *;q=0.1", "gzip"),
            ("x-gzip", "gzip"),
            ("ZSTD;Q=0.9, identity;q=0.5", "zstd"),
        ];
        for (accept, expected) in cases {
            let reply = send(&app, "/doc", &[("accept-encoding", accept)]).await;
            assert_eq!(
                reply.header("content-encoding"),
                Some(expected),
                "{twin:?} {accept}"
            );
            assert_eq!(reply.decoded(), document().as_bytes());
        }
        let reply = send(&app, "/doc", &[("accept-encoding", "identity, gzip;q=0.5")]).await;
        assert_eq!(reply.header("content-encoding"), None, "{twin:?}");
    }
}

#[tokio::test]
async fn small_bodies_and_images_are_not_compressed() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        for target in ["/small", "/image"] {
            let plain = send(&app, target, &[]).await;
            let reply = send(&app, target, &[("accept-encoding", "br, gzip, zstd")]).await;
            assert_eq!(reply.status, StatusCode::OK, "{twin:?} {target}");
            assert_eq!(reply.header("content-encoding"), None, "{twin:?} {target}");
            assert_eq!(reply.body, plain.body, "{twin:?} {target}");
            assert_eq!(
                reply.header("etag"),
                plain.header("etag"),
                "{twin:?} {target}"
            );
            assert!(
                !reply.vary().contains(&"accept-encoding".to_owned()),
                "{twin:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_compression_layer_outside_compresses_nothing_twice() {
    for twin in BOTH {
        let (cache, runs) = (Cache::new(), Runs::default());
        let app = app(twin, &cache, &runs).layer(tower_http::compression::CompressionLayer::new());
        for coding in CODINGS {
            let reply = send(&app, "/doc", &[("accept-encoding", coding)]).await;
            assert_eq!(
                reply.headers.get_all("content-encoding").iter().count(),
                1,
                "{twin:?}"
            );
            assert_eq!(reply.header("content-encoding"), Some(coding), "{twin:?}");
            assert_eq!(reply.decoded(), document().as_bytes(), "{twin:?} {coding}");
        }
        // What the cache leaves alone, the layer may still compress.
        let image = send(&app, "/image", &[("accept-encoding", "gzip")]).await;
        assert_eq!(image.decoded().len(), 4096, "{twin:?}");
        assert_eq!(runs.get(), 2, "{twin:?}");
    }
}

#[tokio::test]
async fn a_head_gets_the_variants_headers() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        let get = send(&app, "/doc", &[("accept-encoding", "br")]).await;
        let headers: [(&str, &[u8]); 1] = [("accept-encoding", b"br")];
        let head = send_with(&app, "HEAD", "/doc", &headers).await;
        assert_eq!(head.status, StatusCode::OK, "{twin:?}");
        for name in ["content-encoding", "etag", "vary", "content-type"] {
            assert_eq!(head.header(name), get.header(name), "{twin:?} {name}");
        }
    }
}

#[tokio::test]
async fn malformed_accept_encoding_never_fails() {
    let values: [&[u8]; 12] = [
        b";;;",
        b"gzip;q=",
        b"gzip;q=1.5",
        b"br;q=-1",
        b"*;q=0.0001",
        b"gzip;;;q=0.5;q=0.1, ,",
        b"\xff\xfe, br",
        b"g\xe9zip",
        b"=,=;=",
        b"identity;q=0, *;q=0",
        b"br;q=0.5 junk",
        b"gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip",
    ];
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        for value in values {
            let reply = send_with(&app, "GET", "/doc", &[("accept-encoding", value)]).await;
            assert_eq!(reply.status, StatusCode::OK, "{twin:?} {value:?}");
            assert_eq!(reply.decoded(), document().as_bytes(), "{twin:?} {value:?}");
        }
    }
}

#[tokio::test]
async fn an_entry_that_could_not_be_stored_is_compressed_for_its_request() {
    for twin in BOTH {
        // Every key is over the limit: each request runs its handler, and
        // its entry answers without being stored.
        let (cache, runs) = (Cache::builder().max_key_bytes(8).build(), Runs::default());
        let app = app(twin, &cache, &runs);
        let reply = send(&app, "/doc", &[("accept-encoding", "gzip")]).await;
        assert_eq!(reply.header("content-encoding"), Some("gzip"), "{twin:?}");
        assert_eq!(reply.decoded(), document().as_bytes());
        let tag = reply.header("etag").unwrap().to_owned();
        let headers = [("accept-encoding", "gzip"), ("if-none-match", tag.as_str())];
        let again = send(&app, "/doc", &headers).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{twin:?}");
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{twin:?}");
        assert_eq!(runs.get(), 2, "{twin:?}");
        assert_eq!(cache.stats().stores, 0, "{twin:?}");
    }
}

#[tokio::test]
async fn a_per_user_response_passes_through_for_a_compression_layer() {
    for twin in BOTH {
        let (cache, runs) = (Cache::new(), Runs::default());
        let token = ("authorization", "Bearer alice");
        let app = app(twin, &cache, &runs);
        let reply = send(&app, "/doc", &[token, ("accept-encoding", "gzip")]).await;
        assert_eq!(reply.header("content-encoding"), None, "{twin:?}");
        let app = app.layer(tower_http::compression::CompressionLayer::new());
        let reply = send(&app, "/doc", &[token, ("accept-encoding", "gzip")]).await;
        assert_eq!(reply.header("content-encoding"), Some("gzip"), "{twin:?}");
        assert_eq!(reply.decoded(), document().as_bytes());
        assert_eq!(cache.stats().stores, 0, "{twin:?}");
    }
}

#[tokio::test]
async fn a_cache_with_compression_off_serves_the_stored_body() {
    let cache = Cache::builder().compression(Compression::off()).build();
    let runs = Runs::default();
    let app = app(Twin::Attribute, &cache, &runs);
    let reply = send(&app, "/doc", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.body, document().as_bytes());
    assert_eq!(reply.header("vary"), None);
}

#[tokio::test]
async fn only_the_offered_codings_are_served_in_the_servers_order() {
    let only = Compression::default().codings(&[Coding::Gzip, Coding::Zstd]);
    let cache = Cache::builder().compression(only).build();
    let runs = Runs::default();
    let app = app(Twin::Layer, &cache, &runs);
    let reply = send(&app, "/doc", &[("accept-encoding", "br, zstd, gzip")]).await;
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    let reply = send(&app, "/doc", &[("accept-encoding", "br")]).await;
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.vary(), ["accept-encoding"]);
}

/// Over a real connection, so that the server writes `Content-Length`.
#[tokio::test]
async fn content_length_is_the_variants_on_get_and_head() {
    for twin in BOTH {
        let (app, _cache, _runs) = setup(twin);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let url = format!("http://{address}/doc");
        for coding in CODINGS {
            let get = client
                .get(&url)
                .header("accept-encoding", coding)
                .send()
                .await
                .unwrap();
            let length = get.headers()["content-length"].to_str().unwrap().to_owned();
            let body = get.bytes().await.unwrap();
            assert_eq!(length, body.len().to_string(), "{twin:?} {coding}");
            assert_eq!(decode(Some(coding), &body), document().as_bytes());
            let head = client
                .head(&url)
                .header("accept-encoding", coding)
                .send()
                .await
                .unwrap();
            assert_eq!(head.headers()["content-encoding"], coding, "{twin:?}");
            assert_eq!(
                head.headers()["content-length"],
                length.as_str(),
                "{twin:?} {coding}"
            );
        }
        server.abort();
    }
}

#[tokio::test]
async fn an_entry_read_from_the_remote_store_is_compressed_here() {
    for twin in BOTH {
        let remote = support::FakeStore::default();
        let runs = Runs::default();
        let filler = Cache::builder().store(remote.clone()).build();
        let reader = Cache::builder().store(remote.clone()).build();
        let first = send(
            &app(twin, &filler, &runs),
            "/doc",
            &[("accept-encoding", "br")],
        )
        .await;
        assert_eq!(first.header("content-encoding"), Some("br"), "{twin:?}");
        // The remote store holds the identity body only.
        let stored = remote.entries.lock().unwrap().values().next().cloned();
        assert_eq!(stored.expect("stored remotely").body, document().as_bytes());
        let reader_app = app(twin, &reader, &runs);
        let second = send(&reader_app, "/doc", &[("accept-encoding", "br")]).await;
        assert_eq!(second.header("content-encoding"), Some("br"), "{twin:?}");
        assert_eq!(second.header("etag"), first.header("etag"), "{twin:?}");
        assert_eq!(
            second.body, first.body,
            "{twin:?}: the same bytes for the same tag"
        );
        assert_eq!(runs.get(), 1, "{twin:?}: the second instance ran nothing");
    }
}

#[tokio::test]
async fn the_variants_bytes_count_while_their_entry_is_held() {
    let cache = Cache::new();
    let runs = Runs::default();
    let app = app(Twin::Attribute, &cache, &runs);
    send(&app, "/doc", &[]).await;
    let identity_only = cache.stats().bytes_held;
    let coded = send(&app, "/doc", &[("accept-encoding", "gzip")]).await;
    assert_eq!(
        cache.stats().bytes_held,
        identity_only + coded.body.len() as u64
    );
    cache.clear().await;
    assert_eq!(cache.stats().bytes_held, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_for_a_coding_compress_once() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        send(&app, "/doc", &[]).await;
        let identity_only = cache.stats().bytes_held;
        let requests: Vec<_> = (0..16)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { send(&app, "/doc", &[("accept-encoding", "br")]).await })
            })
            .collect();
        let mut bodies = Vec::new();
        for request in requests {
            bodies.push(request.await.unwrap().body);
        }
        assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "{twin:?}");
        let made = bodies[0].len() as u64;
        assert_eq!(
            cache.stats().bytes_held,
            identity_only + made,
            "{twin:?}: one variant made"
        );
        assert_eq!(runs.get(), 1, "{twin:?}");
    }
}
