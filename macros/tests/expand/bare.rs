#[cached_etag]
async fn hello() -> &'static str {
    "hello"
}
