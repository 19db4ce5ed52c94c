use cached_etag::cached_etag;

#[cached_etag(etag = "timestmp")]
async fn images() -> &'static str {
    "images"
}

fn main() {}
