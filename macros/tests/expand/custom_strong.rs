#[cached_etag(
    etag = etags::of_report,
    strong,
    cache_control = "public, max-age=60, stale-while-revalidate=30",
    crate = ::my_framework::cached_etag,
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn report(Path((year, month)): Path<(i32, u8)>) -> Json<Report>
where
    Report: Send,
{
    Json(Report::build(year, month))
}
