async fn get_image(
    __cached_etag: ::cached_etag::__private::CacheRequest,
    Path(id): Path<i64>,
    State(db): State<Db>,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `get_image`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::get_image"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
                .ttl(__ce::Duration::from_secs(300))
                .tags(&["images"])
                .build()
        });
        &*POLICY
    };
    __cached_etag
        .respond_with(
            __policy,
            __ce::None,
            move || (
                __ce::vec![__ce::format!("image:{id}")],
                async move {
                    let __output: Result<Json<Image>, AppError> = async move {
                        Ok(Json(db.image(id).await?))
                    }
                        .await;
                    __ce::composite(__output)
                },
            ),
        )
        .await
}
