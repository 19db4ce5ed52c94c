//! Properties of the key over real routing: two requests that differ in one
//! keyed input (the path through a nest prefix, the path, the query, the
//! authority, each varied header, each credential header the policy varies
//! on) never share an entry; two that differ only in inputs the key leaves
//! out (request `Cache-Control`, `X-Forwarded-Host`, `Forwarded`,
//! `Accept-Encoding`) share one, as the README's security model says.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, CacheRequest, Policy};
use proptest::prelude::*;

use crate::support::{Runs, send};

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("safety::props")
        .vary(&["accept-language", "authorization", "cookie"])
        .build()
});

async fn numbered(request: CacheRequest, State(runs): State<Runs>) -> Response {
    request
        .respond(&POLICY, Vec::new(), None, async move {
            cached_etag::hash(format!("run {}", runs.bump()))
        })
        .await
}

#[derive(Debug, Clone)]
struct Req {
    tenant: String,
    tail: String,
    query: Option<String>,
    host: String,
    headers: Vec<(&'static str, String)>,
}

impl Req {
    fn build(&self) -> http::Request<axum::body::Body> {
        let mut target = format!("/t/{}/{}", self.tenant, self.tail);
        if let Some(q) = &self.query {
            target.push('?');
            target.push_str(q);
        }
        let mut request = http::Request::get(target).header("host", &self.host);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request.body(axum::body::Body::empty()).unwrap()
    }

    fn set(&mut self, name: &'static str, value: String) {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}"
}

fn request() -> impl Strategy<Value = Req> {
    (
        word(),
        word(),
        proptest::option::of("[a-z0-9=&]{0,6}"),
        "[a-z]{1,5}(:[0-9]{2,4})?",
        word(),
        proptest::option::of(word()),
        proptest::option::of(word()),
    )
        .prop_map(
            |(tenant, tail, query, host, language, authorization, cookie)| {
                let mut headers = vec![("accept-language", language)];
                headers.extend(authorization.map(|a| ("authorization", format!("Bearer {a}"))));
                headers.extend(cookie.map(|c| ("cookie", format!("s={c}"))));
                Req {
                    tenant,
                    tail,
                    query,
                    host,
                    headers,
                }
            },
        )
}

fn app(runs: &Runs) -> Router {
    let inner = Router::new().route("/{tail}", get(numbered));
    Router::new()
        .nest("/t/{tenant}", inner)
        .with_state(runs.clone())
        .layer(Extension(Cache::new()))
}

/// The bodies of `a` then `b`, on a fresh cache.
fn both(a: &Req, b: &Req) -> (String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let runs = Runs::default();
        let app = app(&runs);
        let first = send(&app, a.build()).await.body;
        let second = send(&app, b.build()).await.body;
        (first, second)
    })
}

/// `base` with one keyed input changed to `other` (which differs from it).
fn change_keyed(base: &Req, which: usize, other: &str) -> Req {
    let mut changed = base.clone();
    match which {
        0 => changed.tenant = format!("{}{other}", base.tenant),
        1 => changed.tail = format!("{}{other}", base.tail),
        2 => {
            changed.query = Some(match &base.query {
                Some(q) => format!("{q}{other}"),
                None => String::new(),
            })
        }
        3 => changed.host = format!("{}{other}", base.host.split(':').next().unwrap()),
        4 => changed.set("accept-language", format!("X{other}")),
        5 => changed.set("authorization", format!("Bearer X{other}")),
        _ => changed.set("cookie", format!("s=X{other}")),
    }
    changed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn requests_that_differ_in_a_keyed_input_never_share(
        base in request(),
        which in 0usize..7,
        other in word(),
    ) {
        let changed = change_keyed(&base, which, &other);
        let (first, second) = both(&base, &changed);
        prop_assert_eq!(first, "run 1");
        prop_assert_eq!(second, "run 2", "input {} was not in the key", which);
    }

    #[test]
    fn requests_that_differ_only_in_unkeyed_inputs_share(
        base in request(),
        which in 0usize..4,
        value in word(),
    ) {
        let mut changed = base.clone();
        let name = ["cache-control", "x-forwarded-host", "forwarded", "accept-encoding"][which];
        let value = match name {
            "cache-control" => "no-cache".to_owned(),
            "forwarded" => format!("host={value}"),
            _ => value,
        };
        changed.set(name, value);
        let (first, second) = both(&base, &changed);
        prop_assert_eq!(first.as_str(), "run 1");
        prop_assert_eq!(second.as_str(), "run 1", "{} changed the key", name);
    }
}
