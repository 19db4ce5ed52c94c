//! The capture worker: a process of its own that records images into the
//! service's database, as a real camera's uploader would, without going
//! through the API and without telling the cache anything. The API sees
//! its writes through [`crate::watch_database`], which notices that
//! another connection committed (`PRAGMA data_version`) and invalidates
//! the entries that summarise a camera's images.

use std::path::Path;
use std::time::Duration;

use crate::db;

/// Records `count` images for `camera` in the database in `data_dir`, one
/// every `every` (the first at once).
pub async fn run(data_dir: &Path, camera: i64, every: Duration, count: u64) -> sqlx::Result<()> {
    let pool = db::open(data_dir).await?;
    if db::camera(&pool, camera).await?.is_none() {
        return Err(sqlx::Error::RowNotFound);
    }
    let mut ticks = tokio::time::interval(every);
    for _ in 0..count {
        ticks.tick().await;
        let image = db::insert_image(&pool, camera).await?;
        tracing::info!(camera, image = image.id, "captured");
    }
    pool.close().await;
    Ok(())
}
