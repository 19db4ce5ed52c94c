use cached_etag::cached_etag;

#[cached_etag(ttl = 0)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
