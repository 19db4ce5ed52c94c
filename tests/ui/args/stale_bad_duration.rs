use cached_etag::cached_etag;

#[cached_etag(stale_if_error = "ten minutes")]
async fn images() -> &'static str {
    "images"
}

fn main() {}
