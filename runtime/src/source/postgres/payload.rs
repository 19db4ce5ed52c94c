//! What a [`Trigger`](super::Trigger)'s notification says, as events.
//!
//! The payload is a JSON object: `rows`, one `[etag, tag, …]` array per row
//! with its new version (`etag` may be `null`); `gone`, tags no row carries
//! any more; `tags`, tags invalidated without an ETag. Each row is its own
//! event, because an event's ETag is compared with every entry under its
//! tags. A payload that does not parse is an error: the caller cannot know
//! what changed and must invalidate broadly.

use serde_json::Value;

use crate::{ETag, Event};

/// A notification payload that is not what a [`Trigger`](super::Trigger)
/// sends.
#[derive(Debug)]
pub(crate) struct Malformed;

/// The events a notification payload describes, rows first.
pub(crate) fn events(payload: &str) -> Result<Vec<Event>, Malformed> {
    let Value::Object(object) = serde_json::from_str(payload).map_err(|_| Malformed)? else {
        return Err(Malformed);
    };
    let mut events = Vec::new();
    match object.get("rows") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rows)) => {
            for row in rows {
                let Value::Array(row) = row else {
                    return Err(Malformed);
                };
                let (etag, tags) = row.split_first().ok_or(Malformed)?;
                let mut event = Event::tags(strings(tags)?);
                match etag {
                    Value::Null => {}
                    Value::String(etag) => event = event.with_etag(ETag::from_string(etag)),
                    _ => return Err(Malformed),
                }
                if !event.tags.is_empty() {
                    events.push(event);
                }
            }
        }
        Some(_) => return Err(Malformed),
    }
    for field in ["gone", "tags"] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(tags)) if tags.is_empty() => {}
            Some(Value::Array(tags)) => events.push(Event::tags(strings(tags)?)),
            Some(_) => return Err(Malformed),
        }
    }
    Ok(events)
}

fn strings(values: &[Value]) -> Result<Vec<String>, Malformed> {
    values
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or(Malformed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_their_etag_and_lists_do_not() {
        let events = events(
            r#"{"gone": ["camera:9"], "rows": [["2-1732442400.5", "camera:2"], [null, "camera:3"]], "tags": ["cameras:list"]}"#,
        )
        .unwrap();
        assert_eq!(
            events,
            [
                Event::tags(["camera:2"]).with_etag(ETag::from_string("2-1732442400.5")),
                Event::tags(["camera:3"]),
                Event::tags(["camera:9"]),
                Event::tags(["cameras:list"]),
            ]
        );
    }

    #[test]
    fn a_coarse_payload_is_one_event() {
        assert_eq!(
            events(r#"{"tags": ["cameras"]}"#).unwrap(),
            [Event::tags(["cameras"])]
        );
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [
            "",
            "[]",
            "{\"rows\": 1}",
            "{\"rows\": [[]]}",
            "{\"rows\": [[1, \"a\"]]}",
            "{\"tags\": [1]}",
        ] {
            assert!(events(bad).is_err(), "{bad}");
        }
    }
}
