use cached_etag::cached_etag;

#[cached_etag(stale_while_revalidate = "1500ms", advertise_stale)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
