use cached_etag::cached_etag;

#[cached_etag(cache_control = "public, max-age=60", max_age = 300)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
