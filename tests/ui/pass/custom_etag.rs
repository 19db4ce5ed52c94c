//! `etag = path::to::fn` with `strong` and a whole `cache_control`.
#![deny(warnings)]
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::{ETag, cached_etag};

#[derive(serde::Serialize)]
struct Report {
    revision: u64,
}

mod etags {
    use cached_etag::ETag;

    pub fn of_report(report: &super::Report) -> ETag {
        ETag::strong(&report.revision.to_string()).unwrap()
    }
}

#[cached_etag(
    etag = etags::of_report,
    strong,
    cache_control = "public, max-age=60, stale-while-revalidate=30",
)]
async fn report() -> Json<Report> {
    Json(Report { revision: 7 })
}

fn main() {
    let _: ETag = etags::of_report(&Report { revision: 1 });
    let _: Router = Router::new().route("/", get(report));
}
