/// The latest frame of a camera: served stale for half a minute while it is
/// refreshed, and for ten minutes if the refresh fails.
pub async fn latest_frame(
    __cached_etag: ::cached_etag::__private::CacheRequest,
    Path(id): Path<i64>,
    State(db): State<Db>,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `latest_frame`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::latest_frame"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
                .ttl(__ce::Duration::from_secs(30))
                .stale_while_revalidate(__ce::Duration::from_secs(30))
                .stale_if_error(__ce::Duration::from_secs(600))
                .advertise_stale()
                .build()
        });
        &*POLICY
    };
    __cached_etag
        .respond_with(
            __policy,
            __ce::None,
            move || (
                __ce::vec![__ce::format!("camera:{id}:latest")],
                async move {
                    let __output: Json<Frame> = async move {
                        Json(db.latest_frame(id).await)
                    }
                        .await;
                    __ce::hash(__output)
                },
            ),
        )
        .await
}
