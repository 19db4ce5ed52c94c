#[derive(Resource)]
struct Image {
    id: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
    path: String,
}
