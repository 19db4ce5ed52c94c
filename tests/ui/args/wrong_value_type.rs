use cached_etag::cached_etag;

#[cached_etag(ttl = true)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
