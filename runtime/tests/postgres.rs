//! The PostgreSQL source against a real server (`scripts/test.sh` starts
//! one and sets `CACHED_ETAG_POSTGRES_URL`; without it these tests fail).
//! Writes come from separate `psql` processes, as an operator's would.
//! Each test has its own table and channel, so they run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::source::postgres::{Notifications, Status, Trigger};
use cached_etag_runtime::{Cache, ETag, Fresh, Policy, RequestHead};
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio_postgres::{Client, NoTls};

fn url() -> String {
    std::env::var("CACHED_ETAG_POSTGRES_URL").expect(
        "CACHED_ETAG_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts PostgreSQL",
    )
}

/// Runs `sql` in a `psql` process of its own.
fn psql(sql: &str) {
    let status = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-o",
            "/dev/null",
            "-v",
            "ON_ERROR_STOP=1",
            &url(),
            "-c",
            sql,
        ])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql failed on {sql}");
}

async fn client() -> Client {
    let (client, connection) = tokio_postgres::connect(&url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A table `name` of `rows` items, each `(id, name, updated_at)`, with the
/// triggers of the example in the README, on channel `name`.
async fn table(db: &Client, name: &str, rows: i64) {
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {name};
         CREATE TABLE {name} (id bigint PRIMARY KEY, name text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
         INSERT INTO {name} (id, name) SELECT i, 'item ' || i FROM generate_series(1, {rows}) AS i;"
    ))
    .await
    .unwrap();
    let sql = Trigger::new(name)
        .channel(name)
        .row_tag(&format!("{name}:{{id}}"))
        .etag("{id}-{updated_at}")
        .table_tag(&format!("{name}:list"))
        .coarse_tag(name)
        .sql()
        .unwrap();
    db.batch_execute(&sql).await.unwrap();
}

/// A cache listening on channel `name`, once the listener is up.
async fn listening(name: &str) -> (Cache, Status) {
    let cache = Cache::new();
    let notifications = Notifications::new(&url()).unwrap().channel(name);
    let status = notifications.status();
    cache.listen(notifications.into_stream());
    eventually("the listener connects", || status.connects() >= 1).await;
    (cache, status)
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `GET /{table}/{id}` through the cache: the row's name, under the tags
/// `{table}`, `{table}:{id}`, with the composite ETag of the row.
struct Reader {
    cache: Cache,
    db: Arc<Client>,
    table: String,
    policy: Arc<Policy>,
    fills: Arc<AtomicUsize>,
}

impl Reader {
    fn new(cache: &Cache, db: Client, table: &str) -> Self {
        Reader {
            cache: cache.clone(),
            db: Arc::new(db),
            table: table.to_owned(),
            policy: Policy::builder("postgres::read").build(),
            fills: Arc::default(),
        }
    }

    async fn read(&self, id: i64) -> String {
        let request = Request::builder()
            .uri(format!("/{}/{id}", self.table))
            .header("host", "test")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let tags = vec![self.table.clone(), format!("{}:{id}", self.table)];
        let fill = fill(self.db.clone(), self.table.clone(), id, self.fills.clone());
        let response = self
            .cache
            .respond(RequestHead::from(&request), &self.policy, tags, None, fill)
            .await;
        text(response).await
    }

    fn fills(&self) -> usize {
        self.fills.load(Ordering::SeqCst)
    }
}

async fn fill(db: Arc<Client>, table: String, id: i64, fills: Arc<AtomicUsize>) -> Fresh<Body> {
    fills.fetch_add(1, Ordering::SeqCst);
    let row = db
        .query_one(
            &format!("SELECT name, updated_at FROM {table} WHERE id = $1"),
            &[&id],
        )
        .await
        .unwrap();
    let name: String = row.get(0);
    let updated_at: SystemTime = row.get(1);
    Fresh::new(Response::new(Body::from(name))).with_etag(ETag::composite(id, updated_at))
}

async fn text(response: Response<Body>) -> String {
    let bytes: Bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_from_psql_invalidates_exactly_that_row() {
    let db = client().await;
    table(&db, "pg_update", 3).await;
    let (cache, _status) = listening("pg_update").await;
    let reader = Reader::new(&cache, db, "pg_update");
    assert_eq!(reader.read(1).await, "item 1");
    assert_eq!(reader.read(2).await, "item 2");
    assert_eq!(reader.fills(), 2);

    psql("UPDATE pg_update SET name = 'renamed', updated_at = clock_timestamp() WHERE id = 1");
    eventually("row 1's entry is gone", || cache.stats().invalidations >= 1).await;
    assert_eq!(reader.read(1).await, "renamed");
    assert_eq!(reader.fills(), 3, "row 1 was filled again");
    assert_eq!(reader.read(2).await, "item 2");
    assert_eq!(reader.fills(), 3, "row 2 was still cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_keeps_the_version_keeps_the_entries() {
    let db = client().await;
    table(&db, "pg_same", 2).await;
    let (cache, status) = listening("pg_same").await;
    let reader = Reader::new(&cache, db, "pg_same");
    reader.read(1).await;

    // Touches the row, and the version column stays as it was.
    psql("UPDATE pg_same SET name = name WHERE id = 1");
    eventually("the notification arrives", || status.notifications() >= 1).await;
    eventually("the row's entry is kept", || {
        cache.stats().invalidations_skipped >= 1
    })
    .await;
    reader.read(1).await;
    assert_eq!(reader.fills(), 1, "served from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_update_is_one_notification_and_invalidates_every_row() {
    let db = client().await;
    table(&db, "pg_bulk", 10_000).await;
    let (cache, status) = listening("pg_bulk").await;
    let reader = Reader::new(&cache, db, "pg_bulk");
    let ids = [1, 2, 500, 5_000, 9_999, 10_000];
    for id in ids {
        reader.read(id).await;
    }
    assert_eq!(reader.fills(), ids.len());

    psql("UPDATE pg_bulk SET name = 'bulk ' || id, updated_at = clock_timestamp()");
    eventually("the notification arrives", || status.notifications() >= 1).await;
    eventually("every entry is gone", || cache.stats().entries == 0).await;
    for id in ids {
        assert_eq!(reader.read(id).await, format!("bulk {id}"));
    }
    // Let any further notification arrive before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status.notifications(), 1, "one notification per statement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_and_an_insert_invalidate_the_rows_they_touch() {
    let db = client().await;
    table(&db, "pg_delete", 3).await;
    let (cache, _status) = listening("pg_delete").await;
    let reader = Reader::new(&cache, db, "pg_delete");
    reader.read(1).await;
    reader.read(2).await;

    psql(
        "BEGIN; DELETE FROM pg_delete WHERE id = 1; INSERT INTO pg_delete (id, name) VALUES (1, 'again'); COMMIT",
    );
    eventually("row 1's entry is gone", || cache.stats().entries == 1).await;
    assert_eq!(reader.read(1).await, "again");
    reader.read(2).await;
    assert_eq!(reader.fills(), 3, "row 2 stayed cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_clears_reconnects_and_serves_nothing_stale() {
    let db = client().await;
    table(&db, "pg_kill", 2).await;
    let (cache, status) = listening("pg_kill").await;
    let reader = Reader::new(&cache, db, "pg_kill");
    reader.read(1).await;
    reader.read(2).await;

    // The listener's backend is the one whose last statement was its LISTEN.
    psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query = 'LISTEN \"pg_kill\"' AND pid <> pg_backend_pid()",
    );
    eventually("the outage is counted", || status.outages() == 1).await;
    eventually("the listener is back", || status.connects() == 2).await;
    assert_eq!(cache.stats().entries, 0, "the reconnect cleared the cache");
    assert_eq!(reader.read(1).await, "item 1");
    assert_eq!(reader.fills(), 3);

    psql("UPDATE pg_kill SET name = 'after', updated_at = clock_timestamp() WHERE id = 1");
    eventually("the resumed subscription invalidates", || {
        cache.stats().entries == 0
    })
    .await;
    assert_eq!(reader.read(1).await, "after", "no stale read");
}

/// The end-to-end delay from an `UPDATE` (sent on another connection) to
/// the invalidated entry, over 1,000 updates on loopback. Prints p50/p99:
/// `cargo test -p cached-etag-runtime --features postgres --test postgres
/// delay -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_from_update_to_invalidation() {
    let db = client().await;
    table(&db, "pg_delay", 1).await;
    let (cache, _status) = listening("pg_delay").await;
    let writer = client().await;
    let update = writer
        .prepare("UPDATE pg_delay SET updated_at = clock_timestamp() WHERE id = 1")
        .await
        .unwrap();
    let reader = Reader::new(&cache, db, "pg_delay");
    let mut delays = Vec::with_capacity(1000);
    for _ in 0..1000 {
        reader.read(1).await;
        let before = cache.stats().invalidations;
        let start = Instant::now();
        writer.execute(&update, &[]).await.unwrap();
        let deadline = start + Duration::from_secs(10);
        while cache.stats().invalidations == before {
            assert!(Instant::now() < deadline, "an update was not seen");
            tokio::task::yield_now().await;
        }
        delays.push(start.elapsed());
    }
    delays.sort();
    let p50 = delays[delays.len() / 2];
    let p99 = delays[delays.len() * 99 / 100];
    println!("UPDATE to invalidated entry over 1000 updates: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
}
