use cached_etag::cached_etag;

#[cached_etag(ttl = 60)]
struct Image {
    id: i64,
}

fn main() {}
