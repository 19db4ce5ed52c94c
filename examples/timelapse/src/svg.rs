//! The stand-in for a camera's JPEG: a small SVG drawn from the image's
//! metadata. It depends on nothing but the (immutable) row, so the same id
//! always gives the same bytes, which is what makes the file `immutable` and
//! its hash ETag stable across restarts.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::db::Image;
use crate::time::rfc3339;

/// An SVG document, served as `image/svg+xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(pub String);

impl IntoResponse for Svg {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "image/svg+xml")], self.0).into_response()
    }
}

/// The picture "taken" as `image`.
pub fn render(image: &Image) -> Svg {
    let secs_of_day = image
        .captured_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 86_400);
    // The sun crosses the frame once a day; each camera has its own sky.
    let sun_x = secs_of_day * u64::from(image.width) / 86_400;
    let hue = (image.camera_id.unsigned_abs() * 67) % 360;
    let (w, h) = (image.width, image.height);
    let horizon = h * 2 / 3;
    Svg(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<rect width="{w}" height="{horizon}" fill="hsl({hue},60%,75%)"/>
<circle cx="{sun_x}" cy="{sun_y}" r="{r}" fill="#ffd54f"/>
<rect y="{horizon}" width="{w}" height="{ground}" fill="hsl({hue},35%,35%)"/>
<text x="12" y="{text_y}" font-family="monospace" font-size="16" fill="#fff">camera {camera} image {id} {at}</text>
</svg>
"##,
        sun_y = h / 4,
        r = h / 12,
        ground = h - horizon,
        text_y = h - 14,
        camera = image.camera_id,
        id = image.id,
        at = rfc3339(image.captured_at),
    ))
}
