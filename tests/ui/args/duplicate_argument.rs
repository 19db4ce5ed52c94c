use cached_etag::cached_etag;

#[cached_etag(ttl = 60, strong, ttl = 120)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
