//! ETag styles: the traits a handler's value implements so that the attribute
//! can compute its ETag without hashing the body, and the functions that compute
//! the ETag and the `Last-Modified` time for each style.
//!
//! The traits are checked at compile time: a `timestamp` style on a type without
//! [`UpdatedAt`] is a trait error that says what to implement. Every style gives
//! a weak ETag (see [`ETag`]).

use std::sync::Arc;
use std::time::SystemTime;

use super::ETag;

/// A point in time usable in an ETag and `Last-Modified`.
///
/// Implemented for [`SystemTime`], for `chrono::DateTime<Tz>` (feature
/// `chrono`) and for `time::OffsetDateTime` and `time::UtcDateTime` (feature
/// `time`). Sub-second precision is kept.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use cached_etag_runtime::etag::Timestamp;
///
/// let t = UNIX_EPOCH + Duration::from_secs(5);
/// assert_eq!((&t).to_system_time(), t);
/// ```
pub trait Timestamp {
    /// This time as a [`SystemTime`].
    fn to_system_time(&self) -> SystemTime;
}

impl Timestamp for SystemTime {
    fn to_system_time(&self) -> SystemTime {
        *self
    }
}

impl<T: Timestamp + ?Sized> Timestamp for &T {
    fn to_system_time(&self) -> SystemTime {
        (**self).to_system_time()
    }
}

/// The time `secs` seconds plus `nanos` nanoseconds after the Unix epoch
/// (`secs` may be negative). Saturates at the epoch in the unlikely case that
/// the platform's `SystemTime` cannot represent it; Unix targets hold any
/// `i64` seconds.
#[cfg(any(feature = "chrono", feature = "time", test))]
fn from_unix(secs: i64, nanos: u32) -> SystemTime {
    use std::time::{Duration, UNIX_EPOCH};

    // A leap second may be reported as nanos >= 1e9 (chrono does): keep it in
    // the same second rather than rolling into the next.
    let nanos = nanos.min(999_999_999);
    let time = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
    } else {
        // secs + nanos/1e9 < 0: its distance to the epoch is |secs| - nanos/1e9.
        Duration::from_secs(secs.unsigned_abs())
            .checked_sub(Duration::from_nanos(u64::from(nanos)))
            .and_then(|before| UNIX_EPOCH.checked_sub(before))
    };
    time.unwrap_or(UNIX_EPOCH)
}

// chrono without its `std` feature has no `From<DateTime> for SystemTime`, so
// the conversion goes through the Unix timestamp, which needs no feature.
#[cfg(feature = "chrono")]
impl<Tz: chrono::TimeZone> Timestamp for chrono::DateTime<Tz> {
    fn to_system_time(&self) -> SystemTime {
        from_unix(self.timestamp(), self.timestamp_subsec_nanos())
    }
}

// time without `std` has no `From<OffsetDateTime> for SystemTime` either.
#[cfg(feature = "time")]
impl Timestamp for time::OffsetDateTime {
    fn to_system_time(&self) -> SystemTime {
        from_unix(self.unix_timestamp(), self.nanosecond())
    }
}

#[cfg(feature = "time")]
impl Timestamp for time::UtcDateTime {
    fn to_system_time(&self) -> SystemTime {
        from_unix(self.unix_timestamp(), self.nanosecond())
    }
}

/// A value that knows when it last changed: the `timestamp` style, and the
/// item type of the `collection` style.
///
/// ```
/// use std::time::SystemTime;
/// use cached_etag_runtime::etag::{UpdatedAt, timestamp_of};
///
/// struct Settings { updated_at: SystemTime }
///
/// impl UpdatedAt for Settings {
///     fn updated_at(&self) -> SystemTime { self.updated_at }
/// }
///
/// let now = SystemTime::now();
/// let (etag, last_modified) = timestamp_of(&Settings { updated_at: now });
/// assert!(etag.is_weak());
/// assert_eq!(last_modified, Some(now));
/// ```
///
/// A `chrono` or `time` field converts with [`Timestamp::to_system_time`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no update time for a `timestamp` ETag",
    label = "this type does not implement `UpdatedAt`",
    note = "implement `cached_etag::UpdatedAt` for `{Self}` (return its `updated_at`), or use etag = \"hash\""
)]
pub trait UpdatedAt {
    /// When this value last changed. Sub-second precision is kept in the ETag.
    fn updated_at(&self) -> SystemTime;
}

/// A value with a stable identity: with [`UpdatedAt`], the `composite` style
/// `{id}-{updated_at}`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use cached_etag_runtime::etag::{Identified, UpdatedAt, composite_of};
///
/// struct Image { id: i64, updated_at: SystemTime }
///
/// impl Identified for Image {
///     fn id(&self) -> impl std::fmt::Display + '_ { self.id }
/// }
/// impl UpdatedAt for Image {
///     fn updated_at(&self) -> SystemTime { self.updated_at }
/// }
///
/// let image = Image { id: 42, updated_at: UNIX_EPOCH + Duration::from_secs(1_732_442_400) };
/// assert_eq!(composite_of(&image).0.to_string(), r#"W/"42-1732442400""#);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no id for a `composite` ETag",
    label = "this type does not implement `Identified`",
    note = "implement `cached_etag::Identified` and `cached_etag::UpdatedAt` for `{Self}`, or use etag = \"hash\""
)]
pub trait Identified {
    /// The identity, rendered with `Display` and escaped into the ETag.
    fn id(&self) -> impl std::fmt::Display + '_;
}

/// A collection summarised by its size and newest change: the `collection`
/// style `{count}-{latest}`.
///
/// Implemented for slices, arrays and `Vec`s of [`UpdatedAt`] items; implement
/// it by hand for a page of results whose total count is known separately.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use cached_etag_runtime::etag::{UpdatedAt, collection_of};
///
/// struct Camera { updated_at: SystemTime }
/// impl UpdatedAt for Camera {
///     fn updated_at(&self) -> SystemTime { self.updated_at }
/// }
///
/// let t = |s| UNIX_EPOCH + Duration::from_secs(s);
/// let cameras = vec![Camera { updated_at: t(20) }, Camera { updated_at: t(10) }];
/// let (etag, last_modified) = collection_of(&cameras);
/// assert_eq!(etag.opaque(), "2-20");
/// assert_eq!(last_modified, Some(t(20)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be summarised for a `collection` ETag",
    label = "this type does not implement `Collection`",
    note = "return a `Vec` or slice of items that implement `cached_etag::UpdatedAt`, implement `cached_etag::Collection` for `{Self}`, or use etag = \"hash\""
)]
pub trait Collection {
    /// The number of items.
    fn count(&self) -> u64;
    /// The newest item's update time, `None` when there is no item.
    fn latest(&self) -> Option<SystemTime>;
}

impl<T: UpdatedAt + ?Sized> UpdatedAt for &T {
    fn updated_at(&self) -> SystemTime {
        (**self).updated_at()
    }
}

impl<T: UpdatedAt + ?Sized> UpdatedAt for Box<T> {
    fn updated_at(&self) -> SystemTime {
        (**self).updated_at()
    }
}

impl<T: UpdatedAt + ?Sized> UpdatedAt for Arc<T> {
    fn updated_at(&self) -> SystemTime {
        (**self).updated_at()
    }
}

impl<T: Identified + ?Sized> Identified for &T {
    fn id(&self) -> impl std::fmt::Display + '_ {
        (**self).id()
    }
}

impl<T: Identified + ?Sized> Identified for Box<T> {
    fn id(&self) -> impl std::fmt::Display + '_ {
        (**self).id()
    }
}

impl<T: Identified + ?Sized> Identified for Arc<T> {
    fn id(&self) -> impl std::fmt::Display + '_ {
        (**self).id()
    }
}

impl<T: UpdatedAt> Collection for [T] {
    fn count(&self) -> u64 {
        u64::try_from(self.len()).unwrap_or(u64::MAX)
    }

    fn latest(&self) -> Option<SystemTime> {
        self.iter().map(UpdatedAt::updated_at).max()
    }
}

impl<T: UpdatedAt, const N: usize> Collection for [T; N] {
    fn count(&self) -> u64 {
        self.as_slice().count()
    }

    fn latest(&self) -> Option<SystemTime> {
        self.as_slice().latest()
    }
}

impl<T: UpdatedAt> Collection for Vec<T> {
    fn count(&self) -> u64 {
        self.as_slice().count()
    }

    fn latest(&self) -> Option<SystemTime> {
        self.as_slice().latest()
    }
}

impl<C: Collection + ?Sized> Collection for &C {
    fn count(&self) -> u64 {
        (**self).count()
    }

    fn latest(&self) -> Option<SystemTime> {
        (**self).latest()
    }
}

/// The `timestamp` style: the ETag of [`ETag::from_timestamp`] and the same
/// time as `Last-Modified`.
pub fn timestamp_of<T: UpdatedAt + ?Sized>(v: &T) -> (ETag, Option<SystemTime>) {
    let t = v.updated_at();
    (ETag::from_timestamp(t), Some(t))
}

/// The `composite` style: the ETag of [`ETag::composite`] and the update time
/// as `Last-Modified`.
pub fn composite_of<T: Identified + UpdatedAt + ?Sized>(v: &T) -> (ETag, Option<SystemTime>) {
    let t = v.updated_at();
    (ETag::composite(v.id(), t), Some(t))
}

/// The `collection` style: the ETag of [`ETag::collection`] and the newest
/// item's time as `Last-Modified` (none for an empty collection).
pub fn collection_of<T: Collection + ?Sized>(v: &T) -> (ETag, Option<SystemTime>) {
    let latest = v.latest();
    (ETag::collection(v.count(), latest), latest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    struct Item {
        id: &'static str,
        at: SystemTime,
    }

    impl UpdatedAt for Item {
        fn updated_at(&self) -> SystemTime {
            self.at
        }
    }

    impl Identified for Item {
        fn id(&self) -> impl std::fmt::Display + '_ {
            self.id
        }
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn timestamp_of_gives_tag_and_last_modified() {
        let item = Item {
            id: "x",
            at: at(1_732_442_400, 500_000_000),
        };
        let (tag, last_modified) = timestamp_of(&item);
        assert_eq!(tag.to_string(), r#"W/"1732442400.5""#);
        assert_eq!(last_modified, Some(item.at));
        // Through the blanket impls.
        assert_eq!(timestamp_of(&Box::new(&item)).0, tag);
        assert_eq!(
            timestamp_of(&Arc::new(Item {
                id: "x",
                at: item.at
            }))
            .0,
            tag
        );
    }

    #[test]
    fn timestamp_of_two_updates_in_one_second_differ() {
        let a = Item {
            id: "x",
            at: at(1_732_442_400, 1),
        };
        let b = Item {
            id: "x",
            at: at(1_732_442_400, 2),
        };
        assert_ne!(timestamp_of(&a).0, timestamp_of(&b).0);
    }

    #[test]
    fn composite_of_escapes_the_id() {
        let item = Item {
            id: "a \"b\"",
            at: at(7, 0),
        };
        let (tag, last_modified) = composite_of(&item);
        assert_eq!(tag.opaque(), "a%20%22b%22-7");
        assert_eq!(last_modified, Some(at(7, 0)));
        assert_eq!(composite_of(&Arc::new(item)).0, tag);
    }

    #[test]
    fn collection_of_counts_and_takes_the_newest() {
        let items = vec![
            Item {
                id: "a",
                at: at(10, 0),
            },
            Item {
                id: "b",
                at: at(30, 5),
            },
            Item {
                id: "c",
                at: at(20, 0),
            },
        ];
        let (tag, last_modified) = collection_of(&items);
        assert_eq!(tag.opaque(), "3-30.000000005");
        assert_eq!(last_modified, Some(at(30, 5)));
        assert_eq!(collection_of(items.as_slice()).0, tag);
        assert_eq!(collection_of(&&items).0, tag);

        // Removing an item that is not the newest still changes the tag.
        let (fewer, _) = collection_of(&items[1..]);
        assert_ne!(fewer, tag);

        let empty: [Item; 0] = [];
        assert_eq!(
            collection_of(&empty),
            (ETag::collection(0, None::<SystemTime>), None)
        );
    }

    #[test]
    fn from_unix_handles_both_sides_of_the_epoch() {
        assert_eq!(from_unix(0, 0), UNIX_EPOCH);
        assert_eq!(from_unix(5, 7), at(5, 7));
        assert_eq!(from_unix(-1, 0), UNIX_EPOCH - Duration::from_secs(1));
        // -2 s + 0.25 s = 1.75 s before the epoch.
        assert_eq!(
            from_unix(-2, 250_000_000),
            UNIX_EPOCH - Duration::new(1, 750_000_000)
        );
        // A leap second's nanos stay in their second.
        assert_eq!(from_unix(5, 1_500_000_000), at(5, 999_999_999));
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_datetime_is_a_timestamp() {
        let dt = chrono::DateTime::from_timestamp(1_732_442_400, 500_000_000).unwrap();
        assert_eq!(dt.to_system_time(), at(1_732_442_400, 500_000_000));
        let before = chrono::DateTime::from_timestamp(-2, 250_000_000).unwrap();
        assert_eq!(ETag::from_timestamp(before).opaque(), "-1.75");
        let offset = dt.with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap());
        assert_eq!(offset.to_system_time(), dt.to_system_time());
    }

    #[cfg(feature = "time")]
    #[test]
    fn time_datetimes_are_timestamps() {
        let odt =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_732_442_400_500_000_000).unwrap();
        assert_eq!(odt.to_system_time(), at(1_732_442_400, 500_000_000));
        let utc = time::UtcDateTime::from_unix_timestamp(-1).unwrap();
        assert_eq!(ETag::from_timestamp(utc).opaque(), "-1");
    }
}
