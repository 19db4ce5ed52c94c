//! The SQLite database: opening and migrating it, the rows the API serves,
//! and every query. Each row type says what its ETag is made of: the
//! `Resource` derive reads its `id` and `updated_at` fields, and a count
//! implements `Collection` by hand; the handlers only name the style.

use std::path::Path;
use std::time::SystemTime;

use cached_etag::{Collection, ETag, Resource};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{ConnectOptions, FromRow, Row, SqliteConnection, SqlitePool};

use crate::time::{from_nanos, next_version, to_nanos};

/// The schema, one script per version; `PRAGMA user_version` records how
/// many have run, so a restart on an existing data dir applies only new ones.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

/// Opens (creating if needed) `timelapse.sqlite3` in `data_dir` and brings its
/// schema up to date.
pub async fn open(data_dir: &Path) -> sqlx::Result<SqlitePool> {
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options(data_dir))
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

fn options(data_dir: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(data_dir.join("timelapse.sqlite3"))
        .create_if_missing(true)
        // WAL lets readers go on while a write commits.
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
}

/// One connection of its own to the database in `data_dir`, for reading
/// `PRAGMA data_version`: the number moves when *another* connection commits
/// (SQLite documentation, `PRAGMA data_version`), so it is only comparable
/// with itself on one connection, which no pool guarantees.
pub async fn version_reader(data_dir: &Path) -> sqlx::Result<SqliteConnection> {
    options(data_dir).connect().await
}

/// The database's change counter as `connection` sees it: it differs from
/// the previous reading on the same connection if and only if another
/// connection, in this process or another, committed in between.
pub async fn data_version(connection: &mut SqliteConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(connection)
        .await
}

async fn migrate(pool: &SqlitePool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (version, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        sqlx::raw_sql(script).execute(&mut *tx).await?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", version + 1))
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = version + 1, "database migrated");
    }
    tx.commit().await
}

/// Service-wide settings: one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Resource)]
pub struct Settings {
    /// Seconds between two captures.
    pub capture_interval_secs: u32,
    /// Days an image is kept.
    pub retention_days: u32,
    /// When the settings last changed.
    #[serde(serialize_with = "crate::time::serialize")]
    pub updated_at: SystemTime,
}

/// The body of `PUT /api/settings`: every field, as PUT replaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Seconds between two captures, at least 1.
    pub capture_interval_secs: u32,
    /// Days an image is kept, at least 1.
    pub retention_days: u32,
}

impl FromRow<'_, SqliteRow> for Settings {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(Settings {
            capture_interval_secs: row.try_get("capture_interval_secs")?,
            retention_days: row.try_get("retention_days")?,
            updated_at: from_nanos(row.try_get("updated_at")?),
        })
    }
}

/// A timelapse camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Resource)]
pub struct Camera {
    /// Its id.
    pub id: i64,
    /// A short name.
    pub name: String,
    /// Where it points.
    pub location: String,
    /// Whether it captures.
    pub enabled: bool,
    /// When it last changed.
    #[serde(serialize_with = "crate::time::serialize")]
    pub updated_at: SystemTime,
}

/// The body of `PUT /api/cameras/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraInput {
    /// A short name, not empty.
    pub name: String,
    /// Where it points.
    pub location: String,
    /// Whether it captures.
    pub enabled: bool,
}

impl FromRow<'_, SqliteRow> for Camera {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(Camera {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            location: row.try_get("location")?,
            enabled: row.try_get("enabled")?,
            updated_at: from_nanos(row.try_get("updated_at")?),
        })
    }
}

/// A captured image's metadata. It never changes after capture, so the
/// capture time is its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Resource)]
pub struct Image {
    /// Its id.
    pub id: i64,
    /// The camera that took it.
    pub camera_id: i64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// When it was taken: its version.
    #[resource(updated_at)]
    #[serde(serialize_with = "crate::time::serialize")]
    pub captured_at: SystemTime,
    /// Where its bytes are.
    pub file: String,
}

impl FromRow<'_, SqliteRow> for Image {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        let id: i64 = row.try_get("id")?;
        Ok(Image {
            id,
            camera_id: row.try_get("camera_id")?,
            width: row.try_get("width")?,
            height: row.try_get("height")?,
            captured_at: from_nanos(row.try_get("captured_at")?),
            file: file_url(id),
        })
    }
}

/// How many images a camera has and when the newest was taken: a
/// collection summarised without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageCount {
    /// The camera.
    pub camera_id: i64,
    /// Its number of images.
    pub count: u64,
    /// When its newest image was taken, `null` without images.
    #[serde(serialize_with = "crate::time::serialize_option")]
    pub latest: Option<SystemTime>,
}

impl Collection for ImageCount {
    fn count(&self) -> u64 {
        self.count
    }

    fn latest(&self) -> Option<SystemTime> {
        self.latest
    }
}

/// Where the bytes of image `id` are served.
fn file_url(id: i64) -> String {
    format!("/api/images/{id}/file")
}

const CAMERA_COLUMNS: &str = "id, name, location, enabled, updated_at";
const IMAGE_COLUMNS: &str = "id, camera_id, width, height, captured_at";

/// The settings.
pub async fn settings(db: &SqlitePool) -> sqlx::Result<Settings> {
    sqlx::query_as(
        "SELECT capture_interval_secs, retention_days, updated_at FROM settings WHERE id = 1",
    )
    .fetch_one(db)
    .await
}

/// Replaces the settings; `updated_at` moves only if a value changed, so an
/// identical PUT keeps the ETag.
pub async fn update_settings(
    db: &SqlitePool,
    current: &Settings,
    input: &SettingsInput,
) -> sqlx::Result<Settings> {
    if input.capture_interval_secs == current.capture_interval_secs
        && input.retention_days == current.retention_days
    {
        return Ok(current.clone());
    }
    let updated_at = next_version(to_nanos(current.updated_at));
    sqlx::query(
        "UPDATE settings SET capture_interval_secs = ?, retention_days = ?, updated_at = ? \
         WHERE id = 1",
    )
    .bind(input.capture_interval_secs)
    .bind(input.retention_days)
    .bind(updated_at)
    .execute(db)
    .await?;
    settings(db).await
}

/// Every camera, by id.
pub async fn cameras(db: &SqlitePool) -> sqlx::Result<Vec<Camera>> {
    sqlx::query_as(&format!("SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY id"))
        .fetch_all(db)
        .await
}

/// The ETag `GET /api/cameras` shows (the `collection` style over the list),
/// computed without loading the list: what a write announces so that an
/// unchanged list keeps its entry.
pub async fn cameras_etag(db: &SqlitePool) -> sqlx::Result<ETag> {
    let (count, latest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(updated_at) FROM cameras")
            .fetch_one(db)
            .await?;
    Ok(ETag::collection(
        u64::try_from(count).unwrap_or(0),
        latest.map(from_nanos),
    ))
}

/// One camera.
pub async fn camera(db: &SqlitePool, id: i64) -> sqlx::Result<Option<Camera>> {
    sqlx::query_as(&format!(
        "SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Replaces a camera's fields; `updated_at` moves only if one changed.
pub async fn update_camera(
    db: &SqlitePool,
    current: &Camera,
    input: &CameraInput,
) -> sqlx::Result<Camera> {
    if input.name == current.name
        && input.location == current.location
        && input.enabled == current.enabled
    {
        return Ok(current.clone());
    }
    let updated_at = next_version(to_nanos(current.updated_at));
    sqlx::query(
        "UPDATE cameras SET name = ?, location = ?, enabled = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&input.name)
    .bind(&input.location)
    .bind(input.enabled)
    .bind(updated_at)
    .bind(current.id)
    .execute(db)
    .await?;
    Ok(Camera {
        name: input.name.clone(),
        location: input.location.clone(),
        enabled: input.enabled,
        updated_at: from_nanos(updated_at),
        ..current.clone()
    })
}

/// The number of a camera's images and its newest capture time.
pub async fn image_count(db: &SqlitePool, camera_id: i64) -> sqlx::Result<ImageCount> {
    let (count, latest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(captured_at) FROM images WHERE camera_id = ?")
            .bind(camera_id)
            .fetch_one(db)
            .await?;
    Ok(ImageCount {
        camera_id,
        count: u64::try_from(count).unwrap_or(0),
        latest: latest.map(from_nanos),
    })
}

/// A camera's newest image.
pub async fn latest_image(db: &SqlitePool, camera_id: i64) -> sqlx::Result<Option<Image>> {
    sqlx::query_as(&format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE camera_id = ? \
         ORDER BY captured_at DESC, id DESC LIMIT 1"
    ))
    .bind(camera_id)
    .fetch_optional(db)
    .await
}

/// A camera's newest `limit` images, newest first.
pub async fn recent_images(
    db: &SqlitePool,
    camera_id: i64,
    limit: u32,
) -> sqlx::Result<Vec<Image>> {
    sqlx::query_as(&format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE camera_id = ? \
         ORDER BY captured_at DESC, id DESC LIMIT ?"
    ))
    .bind(camera_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One image.
pub async fn image(db: &SqlitePool, id: i64) -> sqlx::Result<Option<Image>> {
    sqlx::query_as(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Records a capture by `camera_id` now: a new image, later than the
/// camera's newest so that its collection ETag always changes.
pub async fn insert_image(db: &SqlitePool, camera_id: i64) -> sqlx::Result<Image> {
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT MAX(captured_at) FROM images WHERE camera_id = ?")
            .bind(camera_id)
            .fetch_one(db)
            .await?;
    let captured_at = next_version(newest.unwrap_or(0));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO images (camera_id, width, height, captured_at) VALUES (?, 640, 480, ?) \
         RETURNING id",
    )
    .bind(camera_id)
    .bind(captured_at)
    .fetch_one(db)
    .await?;
    Ok(Image {
        id,
        camera_id,
        width: 640,
        height: 480,
        captured_at: from_nanos(captured_at),
        file: file_url(id),
    })
}
