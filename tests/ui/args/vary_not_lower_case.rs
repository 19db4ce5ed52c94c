use cached_etag::cached_etag;

#[cached_etag(vary("Accept-Language"))]
async fn greeting() -> &'static str {
    "hello"
}

fn main() {}
