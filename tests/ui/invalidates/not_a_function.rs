use cached_etag::invalidates;

#[invalidates("settings")]
struct Settings;

fn main() {}
