async fn get_settings(
    __cached_etag: ::cached_etag::__private::CacheRequest,
    State(App { db, cache }): State<App>,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `get_settings`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::get_settings"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
                .ttl(__ce::Duration::from_secs(5400))
                .tags(&["settings"])
                .build()
        });
        &*POLICY
    };
    let __check = __ce::check(db.settings_version().await);
    let __cached_etag = __cached_etag.with_cache(cache);
    __cached_etag
        .respond_with(
            __policy,
            __check,
            move || (
                __ce::Vec::new(),
                async move {
                    let __output: Result<Json<Settings>, AppError> = async move {
                        Ok(Json(db.settings().await?))
                    }
                        .await;
                    __ce::timestamp(__output)
                },
            ),
        )
        .await
}
