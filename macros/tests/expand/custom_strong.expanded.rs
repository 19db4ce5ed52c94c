#[tracing::instrument(skip_all)]
pub(crate) async fn report(
    __cached_etag: ::my_framework::cached_etag::__private::CacheRequest,
    Path((year, month)): Path<(i32, u8)>,
) -> ::my_framework::cached_etag::__private::Response
where
    Report: Send,
{
    use ::my_framework::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `report`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::report"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
                .strong()
                .cache_control("public, max-age=60, stale-while-revalidate=30")
                .build()
        });
        &*POLICY
    };
    __cached_etag
        .respond_with(
            __policy,
            __ce::None,
            move || (
                __ce::Vec::new(),
                async move {
                    let __output: Json<Report> = async move {
                        Json(Report::build(year, month))
                    }
                        .await;
                    __ce::custom(__output, etags::of_report)
                },
            ),
        )
        .await
}
