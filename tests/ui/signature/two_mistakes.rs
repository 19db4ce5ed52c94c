use axum::extract::Path;
use cached_etag::cached_etag;

#[cached_etag(tags("image:{image_id}"))]
fn get_image(Path(id): Path<i64>) -> String {
    id.to_string()
}

fn main() {}
