use cached_etag::cached_etag;

#[cached_etag(cache_control = "public, max-age=60", stale_while_revalidate = 30, advertise_stale)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
