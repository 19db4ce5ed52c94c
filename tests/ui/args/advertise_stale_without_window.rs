use cached_etag::cached_etag;

#[cached_etag(ttl = 60, advertise_stale)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
