use cached_etag::cached_etag;

#[cached_etag(ttl = "5 minutes")]
async fn images() -> &'static str {
    "images"
}

fn main() {}
