use axum::extract::State;
use axum::http::StatusCode;
use cached_etag::invalidates;

#[derive(Clone)]
struct App;

#[invalidates("app:{app}")]
async fn put_app(State(app): State<App>) -> StatusCode {
    let _ = app;
    StatusCode::NO_CONTENT
}

fn main() {}
