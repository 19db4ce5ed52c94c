//! The pub/sub channel on which stores announce what they invalidated, and
//! the stream that listens to it.
//!
//! An announcement is an [`Event`] as JSON (so that other consumers can
//! read it as one: unknown fields are ignored) plus the key, which `Event`'s
//! own serialization leaves out since it is bytes, in base64url; its
//! `origin` marks the store that made it, whose own stream skips it. Pub/sub
//! keeps nothing for absent listeners, so the stream yields
//! [`Event::clear`] whenever it cannot vouch for having heard everything:
//! when it (re)subscribes, when the subscription is lost (its connection
//! closed, or a `PING` sent every heartbeat interval went unanswered for
//! the heartbeat timeout), after every failed attempt to resubscribe (with
//! a backoff), and for an announcement it cannot read. Misses are better
//! than stale entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures_core::Stream;
use redis::Value;
use tokio::time::Instant;

use super::{Inner, bump};
use crate::store::BoxFuture;
use crate::{ETag, Event, Key};

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How the subscription's connection is checked; see
/// [`RedisStoreBuilder::heartbeat`](super::RedisStoreBuilder::heartbeat).
#[derive(Debug, Clone, Copy)]
pub(super) struct Heartbeat {
    /// The time between two `PING`s.
    pub(super) interval: Duration,
    /// How long a `PONG` may take before the subscription is taken for lost.
    pub(super) timeout: Duration,
}

/// An identifier for one store, distinct across processes and instances
/// with overwhelming probability: std's hasher keys are random per process.
pub(super) fn origin_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// One announcement as it goes on the channel: the fields of an [`Event`],
/// in its order, then the key.
#[derive(serde::Serialize)]
pub(super) struct Announcement<'a, T> {
    tags: &'a [T],
    etag: Option<&'a ETag>,
    clear: bool,
    /// Written only when set, so that the releases before soft purges read
    /// every other announcement as before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    soft: bool,
    origin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl<'a> Announcement<'a, &'a str> {
    /// The entry under `key` was removed, unless its ETag equals `keep`.
    pub(super) fn key(key: &[u8], keep: Option<&'a ETag>) -> Self {
        Announcement {
            tags: &[],
            etag: keep,
            clear: false,
            soft: false,
            origin: None,
            key: Some(base64url(key)),
        }
    }

    /// The entries of `tags` were removed, unless their ETag equals `keep`.
    pub(super) fn tags(tags: &'a [&'a str], keep: Option<&'a ETag>) -> Self {
        Announcement {
            tags,
            etag: keep,
            clear: false,
            soft: false,
            origin: None,
            key: None,
        }
    }

    /// Every entry was removed.
    pub(super) fn clear() -> Self {
        Announcement {
            tags: &[],
            etag: None,
            clear: true,
            soft: false,
            origin: None,
            key: None,
        }
    }
}

impl<'a> Announcement<'a, String> {
    /// `event`, with no origin: every store's stream yields it.
    pub(super) fn event(event: &'a Event) -> Self {
        Announcement {
            tags: &event.tags,
            etag: event.etag.as_ref(),
            clear: event.clear,
            soft: event.soft,
            origin: None,
            key: event.key.as_ref().map(|key| base64url(key.as_bytes())),
        }
    }
}

impl<T: serde::Serialize> Announcement<'_, T> {
    /// Marks the announcement as a soft purge: the entries were marked
    /// stale, and the other instances mark their copies stale too.
    pub(super) fn soft(self, soft: bool) -> Self {
        Announcement { soft, ..self }
    }

    /// Marks the announcement as made by the store of `origin`, whose own
    /// stream skips it.
    pub(super) fn by(self, origin: u64) -> Self {
        Announcement {
            origin: Some(origin),
            ..self
        }
    }

    /// The message to publish.
    pub(super) fn to_json(&self) -> String {
        // Strings, an ETag as its header text, a bool and a number: always
        // JSON.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"clear":true}"#.to_owned())
    }
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An announcement as read off the channel.
#[derive(serde::Deserialize)]
struct Received {
    #[serde(flatten)]
    event: Event,
    #[serde(default)]
    origin: Option<u64>,
    #[serde(default)]
    key: Option<String>,
}

/// The event in `payload`, `None` if the store of `own` made it, and a
/// clear if it cannot be read.
fn decode(payload: &[u8], own: u64) -> Option<Event> {
    let Ok(received) = serde_json::from_slice::<Received>(payload) else {
        tracing::warn!("undecodable invalidation announcement; clearing");
        return Some(Event::clear());
    };
    if received.origin == Some(own) {
        return None;
    }
    let mut event = received.event;
    if let Some(key) = received.key {
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key) {
            Ok(bytes) => event.key = Some(Key::from(bytes.as_slice())),
            Err(_) => return Some(Event::clear()),
        }
    }
    Some(event)
}

/// The announcements of every store but `inner`'s own; see
/// [`RedisStore::announcements`](super::RedisStore::announcements).
pub(super) fn stream(inner: Arc<Inner>) -> impl Stream<Item = Event> + Send + 'static {
    let listener = Listener {
        inner,
        subscription: None,
        retry_at: None,
        backoff: MIN_BACKOFF,
    };
    futures_util::stream::unfold(listener, |mut listener| async move {
        let event = listener.next().await;
        Some((event, listener))
    })
}

/// The state behind [`stream`]: one subscription at a time, and a clear
/// whenever what it hears cannot be trusted to be complete.
struct Listener {
    inner: Arc<Inner>,
    subscription: Option<Subscription>,
    /// When the next attempt to subscribe may be made, after a failed one.
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Listener {
    async fn next(&mut self) -> Event {
        while let Some(subscription) = &mut self.subscription {
            match subscription.heard(self.inner.heartbeat).await {
                Heard::Message(payload) => {
                    if let Some(event) = decode(&payload, self.inner.origin) {
                        return event;
                    }
                }
                Heard::Lost(why) => {
                    tracing::warn!(
                        why,
                        "redis invalidation channel lost; clearing and resubscribing"
                    );
                    bump(&self.inner.counters.subscriptions_lost);
                    self.subscription = None;
                    // The first attempt at once: a restarted Redis may be
                    // back already.
                    self.retry_at = None;
                    self.backoff = MIN_BACKOFF;
                    // From now on other instances' invalidations go unheard.
                    return Event::clear();
                }
            }
        }
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await;
        }
        match subscribe(&self.inner).await {
            Ok(subscription) => {
                self.subscription = Some(subscription);
                self.retry_at = None;
                self.backoff = MIN_BACKOFF;
                bump(&self.inner.counters.subscriptions);
            }
            Err(why) => {
                tracing::debug!(why, "redis subscription failed; retrying");
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
        // Subscribed: announcements made while nobody listened are lost.
        // Not subscribed: what the memory layer filled since the last clear
        // may already be invalidated elsewhere, unheard.
        Event::clear()
    }
}

/// A new subscription to the channel, within the connect timeout.
async fn subscribe(inner: &Inner) -> Result<Subscription, String> {
    let subscribe = async {
        let mut pubsub = inner.client.get_async_pubsub().await?;
        pubsub.subscribe(&*inner.channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(inner.connect_timeout, subscribe).await {
        Ok(Ok(pubsub)) => Ok(Subscription::new(pubsub, inner.heartbeat)),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// A live subscription: its messages, and the heartbeat that finds out
/// when the connection died without closing.
struct Subscription {
    sink: redis::aio::PubSubSink,
    messages: redis::aio::PubSubStream,
    /// The `PING` awaiting its `PONG`, if one was sent.
    ping: Option<BoxFuture<'static, redis::RedisResult<Value>>>,
    /// When the next `PING` is due, or, while one is out, when it is late.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

enum Heard {
    Message(Vec<u8>),
    Lost(&'static str),
}

impl Subscription {
    fn new(pubsub: redis::aio::PubSub, heartbeat: Heartbeat) -> Self {
        let (sink, messages) = pubsub.split();
        Subscription {
            sink,
            messages,
            ping: None,
            timer: Box::pin(tokio::time::sleep(heartbeat.interval)),
        }
    }

    /// The next message, or why the subscription is lost. Messages keep
    /// flowing while a `PING` is out.
    async fn heard(&mut self, heartbeat: Heartbeat) -> Heard {
        std::future::poll_fn(move |cx| self.poll_heard(cx, heartbeat)).await
    }

    fn poll_heard(
        &mut self,
        cx: &mut std::task::Context<'_>,
        heartbeat: Heartbeat,
    ) -> std::task::Poll<Heard> {
        use futures_util::StreamExt as _;
        use std::task::Poll;
        if let Poll::Ready(message) = self.messages.poll_next_unpin(cx) {
            return Poll::Ready(match message {
                Some(message) => Heard::Message(message.get_payload_bytes().to_vec()),
                None => Heard::Lost("connection closed"),
            });
        }
        loop {
            if let Some(ping) = &mut self.ping {
                match ping.as_mut().poll(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.ping = None;
                        let next = Instant::now() + heartbeat.interval;
                        self.timer.as_mut().reset(next);
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Heard::Lost("heartbeat failed")),
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.ping.is_some() {
                return Poll::Ready(Heard::Lost("no answer to the heartbeat"));
            }
            let mut sink = self.sink.clone();
            self.ping = Some(Box::pin(async move { sink.ping::<Value>().await }));
            let late = Instant::now() + heartbeat.timeout;
            self.timer.as_mut().reset(late);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trips_keys_and_skips_own_messages() {
        let key = Key::from(&[0u8, 255, b'k'][..]);
        let event = Event {
            key: Some(key.clone()),
            ..Event::tags(["a"]).with_etag(ETag::from_string("v1"))
        };
        let message = Announcement::event(&event).by(7).to_json();
        assert_eq!(decode(message.as_bytes(), 7), None);
        let heard = decode(message.as_bytes(), 8).unwrap();
        assert_eq!(heard.key, Some(key));
        assert_eq!((&heard.tags, &heard.etag), (&event.tags, &event.etag));
        let plain: Event = serde_json::from_str(&message).unwrap();
        assert_eq!(plain.tags, event.tags, "readable as a plain Event");
        assert_eq!(decode(b"not json", 7), Some(Event::clear()));
    }

    /// An announcement is, byte for byte, its event's own JSON (with the
    /// announcing store's origin) followed by the key.
    #[test]
    fn a_soft_purge_is_announced_as_soft() {
        let tags = ["doc"];
        let json = Announcement::tags(&tags, None).soft(true).by(3).to_json();
        let heard = decode(json.as_bytes(), 7).unwrap();
        assert!(heard.soft);
        assert_eq!(heard.tags, ["doc"]);
        // A hard one says nothing of softness, as before soft purges.
        let json = Announcement::tags(&tags, None).by(3).to_json();
        assert!(!json.contains("soft"));
        assert!(!decode(json.as_bytes(), 7).unwrap().soft);
    }

    #[test]
    fn an_announcement_is_an_events_json_plus_the_key() {
        #[derive(serde::Serialize)]
        struct EventAndKey {
            #[serde(flatten)]
            event: Event,
            origin: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            key: Option<String>,
        }
        let expected = |event: Event, origin: Option<u64>| {
            let key = event.key.as_ref().map(|k| base64url(k.as_bytes()));
            let event = Event { key: None, ..event };
            serde_json::to_string(&EventAndKey { event, origin, key }).unwrap()
        };
        let etag = ETag::from_string("v1");
        let key = Key::from(&b"k\0"[..]);
        let tags = ["a", "b"];
        assert_eq!(
            Announcement::key(key.as_bytes(), Some(&etag))
                .by(3)
                .to_json(),
            expected(Event::key(key.clone()).with_etag(etag.clone()), Some(3))
        );
        assert_eq!(
            Announcement::tags(&tags, None).by(3).to_json(),
            expected(Event::tags(tags), Some(3))
        );
        assert_eq!(
            Announcement::clear().by(3).to_json(),
            expected(Event::clear(), Some(3))
        );
        let event = Event {
            key: Some(key),
            ..Event::tags(tags).with_etag(etag)
        };
        assert_eq!(
            Announcement::event(&event).to_json(),
            expected(event.clone(), None)
        );
    }
}
