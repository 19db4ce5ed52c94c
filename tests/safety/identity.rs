//! Handler identity: every annotated item has a key space of its own, so two
//! handlers with the same name in the same module, routed at the same path,
//! never answer for each other.

use axum::routing::{MethodRouter, get};
use axum::{Extension, Router};
use cached_etag::{Cache, cached_etag};

use crate::support;

// Both are `<this module>::get`: only where they are written tells them apart.
struct Images;

impl Images {
    #[cached_etag]
    async fn get() -> String {
        "images".to_owned()
    }
}

struct Cameras;

impl Cameras {
    #[cached_etag]
    async fn get() -> String {
        "cameras".to_owned()
    }
}

/// Same-named handlers from one macro call: the attribute is written once,
/// inside the macro, so the site has to be the function's name, which the
/// caller wrote for each.
macro_rules! handlers {
    ($($ty:ident::$get:ident => $body:literal),* $(,)?) => {
        $(
            struct $ty;

            impl $ty {
                #[cached_etag]
                async fn $get() -> String {
                    $body.to_owned()
                }
            }
        )*
    };
}

handlers! {
    Lenses::get => "lenses",
    Mounts::get => "mounts",
}

/// Routes each handler at `/get` in a router of its own, all with one cache,
/// and asks each twice: the requests differ in nothing the key holds but the
/// handler's identity.
async fn each_answers_with_its_own_body(handlers: [(MethodRouter, &str); 2]) {
    let cache = Cache::new();
    let apps = handlers.map(|(handler, body)| {
        let app = Router::new()
            .route("/get", handler)
            .layer(Extension(cache.clone()));
        (app, body)
    });
    for round in ["miss", "hit"] {
        for (app, body) in &apps {
            let reply = support::send(app, support::get("/get", &[])).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body, *body, "on the {round}");
        }
    }
    assert_eq!(cache.stats().entries, 2, "one entry per handler");
}

#[tokio::test]
async fn same_named_handlers_of_two_impl_blocks_do_not_share_entries() {
    each_answers_with_its_own_body([(get(Images::get), "images"), (get(Cameras::get), "cameras")])
        .await;
}

#[tokio::test]
async fn same_named_handlers_from_one_macro_call_do_not_share_entries() {
    each_answers_with_its_own_body([(get(Lenses::get), "lenses"), (get(Mounts::get), "mounts")])
        .await;
}
