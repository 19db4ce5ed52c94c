use cached_etag::cached_etag;

// The crate path goes into a `use` item: generic arguments are an error at
// the path, not broken code in the expansion.
#[cached_etag(crate = cached_etag::<u8>)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
