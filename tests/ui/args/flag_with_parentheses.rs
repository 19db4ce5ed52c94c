use cached_etag::cached_etag;

// A flag takes no value, not even an empty list: an error at the flag, not a
// panic in the macro.
#[cached_etag(strong(), shared)]
async fn images() -> &'static str {
    "images"
}

fn main() {}
