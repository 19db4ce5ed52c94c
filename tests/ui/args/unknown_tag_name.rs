use axum::extract::Path;
use cached_etag::cached_etag;

#[cached_etag(tags("images", "image:{image_id}"))]
async fn get_image(Path(id): Path<i64>) -> String {
    id.to_string()
}

fn main() {}
