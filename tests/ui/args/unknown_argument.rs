use cached_etag::cached_etag;

#[cached_etag(ttl = 60, tag("images"))]
async fn images() -> &'static str {
    "images"
}

fn main() {}
