//! PostgreSQL `LISTEN/NOTIFY` as a stream of events (feature `postgres`).
//!
//! [`Trigger`] writes the SQL that makes a table announce, once per
//! statement, the tags of the rows it touched and their new ETags;
//! [`Notifications`] listens on the channel and turns each announcement
//! into [`Event`]s for [`Cache::listen`](crate::Cache::listen). So a write
//! made by any process (a worker, a migration, someone in `psql`)
//! invalidates exactly what it touched, and a write that left a row's
//! version alone keeps that row's entries.
//!
//! PostgreSQL does not queue notifications for a session that is not
//! listening (manual, `NOTIFY`): whatever was sent while the connection was
//! down is lost. So every connect, the first and each reconnect, first
//! `LISTEN`s and then yields the [`on_connect`](Notifications::on_connect)
//! event (a clear of the whole cache unless told otherwise), and only then
//! the notifications that follow. The order matters: a clear before the
//! `LISTEN` would leave a window in which a change is neither notified nor
//! cleared.
//!
//! The client is `tokio-postgres` rather than sqlx's `PgListener`: on top
//! of an axum hello-world it added 8 s and 46 crates to a cold debug build,
//! against 46 s and 113 crates for sqlx with only its `postgres` feature
//! (measured on this project's 2-core machine). Both need the reconnect
//! loop written here: sqlx reconnects inside `recv` but does not say when
//! the new `LISTEN` is in place, which is when the clear must happen.

mod payload;
mod trigger;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub use trigger::{DEFAULT_CHANNEL, PAYLOAD_LIMIT, Trigger, TriggerError};

use crate::Event;

/// The first wait after a failed connect; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two connect attempts.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// A PostgreSQL channel, listened to, as a stream of events.
///
/// ```no_run
/// use cached_etag_runtime::Cache;
/// use cached_etag_runtime::source::postgres::Notifications;
///
/// # #[tokio::main] async fn main() -> Result<(), tokio_postgres::Error> {
/// let cache = Cache::new();
/// let notifications = Notifications::new("postgres://app@localhost/app")?;
/// let status = notifications.status();
/// cache.listen(notifications.into_stream());
/// # let _ = status.outages();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Notifications {
    config: tokio_postgres::Config,
    channel: String,
    on_connect: Event,
    status: Status,
}

impl Notifications {
    /// Listens with the connection string `url` (a `postgres://` URL or
    /// `key=value` pairs, as `tokio_postgres::Config` parses them), without
    /// TLS, on [`DEFAULT_CHANNEL`].
    pub fn new(url: &str) -> Result<Self, tokio_postgres::Error> {
        Ok(Self::from_config(url.parse()?))
    }

    /// Listens with `config`, without TLS, on [`DEFAULT_CHANNEL`]. The
    /// session is named `cached-etag` in `pg_stat_activity` unless `config`
    /// names it.
    pub fn from_config(mut config: tokio_postgres::Config) -> Self {
        if config.get_application_name().is_none() {
            config.application_name("cached-etag");
        }
        Notifications {
            config,
            channel: DEFAULT_CHANNEL.to_owned(),
            on_connect: Event::clear(),
            status: Status::default(),
        }
    }

    /// Listens on `channel`, the one the [`Trigger`]s notify.
    pub fn channel(mut self, channel: &str) -> Self {
        channel.clone_into(&mut self.channel);
        self
    }

    /// What every connect yields, once `LISTEN` is in place, for what may
    /// have changed unnoticed: [`Event::clear`] by default; the tags the
    /// triggers cover (their coarse tags) to keep other entries.
    pub fn on_connect(mut self, event: Event) -> Self {
        self.on_connect = event;
        self
    }

    /// Counters of this listener, readable while the stream runs.
    pub fn status(&self) -> Status {
        self.status.clone()
    }

    /// The events: [`on_connect`](Self::on_connect) after each connect, then
    /// those of each notification. It reconnects for ever (waiting 0.1 s,
    /// doubling to 5 s, between failed attempts) and ends only when dropped,
    /// which closes the connection.
    pub fn into_stream(self) -> impl Stream<Item = Event> + Send + 'static {
        let state = State {
            source: self,
            connection: None,
            pending: VecDeque::new(),
            announced: false,
            retry: FIRST_RETRY,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            let event = state.next().await;
            Some((event, state))
        })
    }
}

/// A live connection: the client (dropping it closes the connection) and
/// the notifications its driver task forwards.
struct Connection {
    _client: Client,
    notifications: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
}

struct State {
    source: Notifications,
    connection: Option<Connection>,
    pending: VecDeque<Event>,
    /// The `on_connect` event was handed out and the consumer came back for
    /// more: it has been applied.
    announced: bool,
    retry: Duration,
}

impl State {
    async fn next(&mut self) -> Event {
        loop {
            if !self.announced && self.connection.is_some() {
                // The consumer asks again: what it was given after the
                // connect is applied.
                self.announced = true;
                self.source
                    .status
                    .0
                    .connects
                    .fetch_add(1, Ordering::Relaxed);
            }
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let Some(connection) = &mut self.connection else {
                self.connection = Some(self.connect().await);
                self.announced = false;
                return self.source.on_connect.clone();
            };
            match connection.notifications.recv().await {
                Some(notification) if notification.channel() == self.source.channel => {
                    self.source
                        .status
                        .0
                        .notifications
                        .fetch_add(1, Ordering::Relaxed);
                    match payload::events(notification.payload()) {
                        Ok(events) => self.pending.extend(events),
                        Err(payload::Malformed) => {
                            self.source
                                .status
                                .0
                                .malformed
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                channel = %self.source.channel,
                                payload = notification.payload(),
                                "notification not from a cached-etag trigger; invalidating as on connect"
                            );
                            self.pending.push_back(self.source.on_connect.clone());
                        }
                    }
                }
                Some(_) => {}
                None => {
                    self.connection = None;
                    self.source.status.0.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        channel = %self.source.channel,
                        "PostgreSQL connection lost; notifications may be lost, reconnecting"
                    );
                }
            }
        }
    }

    /// Connects and `LISTEN`s, retrying until it succeeds.
    async fn connect(&mut self) -> Connection {
        loop {
            match self.try_connect().await {
                Ok(connection) => {
                    self.retry = FIRST_RETRY;
                    tracing::info!(channel = %self.source.channel, "listening to PostgreSQL");
                    return connection;
                }
                Err(error) => {
                    self.source
                        .status
                        .0
                        .failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, retry_in = ?self.retry, "PostgreSQL connect failed");
                    tokio::time::sleep(self.retry).await;
                    self.retry = (self.retry * 2).min(MAX_RETRY);
                }
            }
        }
    }

    async fn try_connect(&self) -> Result<Connection, tokio_postgres::Error> {
        let (client, mut connection) = self.source.config.connect(NoTls).await?;
        let (sender, notifications) = mpsc::unbounded_channel();
        // The connection does the I/O for the client and hands out what the
        // server sends unasked; it ends when the server closes it or the
        // client is dropped, and so closes the channel.
        tokio::spawn(async move {
            loop {
                let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                match message {
                    Some(Ok(AsyncMessage::Notification(notification))) => {
                        if sender.send(notification).is_err() {
                            break;
                        }
                    }
                    Some(Ok(_notice)) => {}
                    Some(Err(error)) => {
                        tracing::debug!(%error, "PostgreSQL connection ended");
                        break;
                    }
                    None => break,
                }
            }
        });
        let listen = format!("LISTEN \"{}\"", self.source.channel.replace('"', "\"\""));
        client.batch_execute(&listen).await?;
        Ok(Connection {
            _client: client,
            notifications,
        })
    }
}

/// Counters of a [`Notifications`] listener. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Status(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    connects: AtomicU64,
    outages: AtomicU64,
    failures: AtomicU64,
    notifications: AtomicU64,
    malformed: AtomicU64,
}

impl Status {
    /// Connects whose `on_connect` event the consumer has applied: `1`
    /// once the listener is up, one more after each outage.
    pub fn connects(&self) -> u64 {
        self.0.connects.load(Ordering::Relaxed)
    }

    /// Connections lost after they were listening.
    pub fn outages(&self) -> u64 {
        self.0.outages.load(Ordering::Relaxed)
    }

    /// Connect attempts that failed.
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }

    /// Notifications received on the channel.
    pub fn notifications(&self) -> u64 {
        self.0.notifications.load(Ordering::Relaxed)
    }

    /// Notifications whose payload was not a trigger's, each handled as a
    /// connect.
    pub fn malformed(&self) -> u64 {
        self.0.malformed.load(Ordering::Relaxed)
    }
}
