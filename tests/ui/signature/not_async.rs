use cached_etag::cached_etag;

#[cached_etag]
fn hello() -> &'static str {
    "hello"
}

fn main() {}
