async fn hello(
    __cached_etag: ::cached_etag::__private::CacheRequest,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __policy = {
        /// The caching policy of `hello`, built on first use.
        static POLICY: __ce::LazyLock<__ce::Arc<__ce::Policy>> = __ce::LazyLock::new(|| {
            __ce::Policy::builder(__ce::concat!(__ce::module_path!(), "::hello"))
                .site(
                    __ce::concat!(
                        __ce::file!(), ":", __ce::line!(), ":", __ce::column!()
                    ),
                )
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
                    let __output: &'static str = async move { "hello" }.await;
                    __ce::hash(__output)
                },
            ),
        )
        .await
}
