/// Lists a camera's images, a page at a time.
pub async fn list_images(
    __cached_etag: ::cached_etag::__private::CacheRequest,
    Path(camera): Path<i64>,
    Query(Page { page, .. }): Query<Page>,
    State(db): State<Db>,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `list_images`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::list_images"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
                .tags(&["images"])
                .vary(&["accept-language"])
                .shared()
                .max_age(__ce::Duration::from_secs(600))
                .public()
                .surrogate_keys()
                .build()
        });
        &*POLICY
    };
    __cached_etag
        .respond_with(
            __policy,
            __ce::None,
            move || (
                __ce::vec![__ce::format!("camera:{camera}:images")],
                async move {
                    let __output: Json<Vec<Image>> = async move {
                        Json(db.images(camera, page).await)
                    }
                        .await;
                    __ce::collection(__output)
                },
            ),
        )
        .await
}
