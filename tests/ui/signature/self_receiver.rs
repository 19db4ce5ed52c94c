use cached_etag::cached_etag;

struct Api;

impl Api {
    #[cached_etag]
    async fn hello(&self) -> &'static str {
        "hello"
    }
}

fn main() {}
