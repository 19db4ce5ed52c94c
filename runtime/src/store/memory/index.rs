//! The memory store's tag index: for each tag, the keys that carry it, each
//! with the id of the slot that does (so that cleaning the index after an
//! eviction never unlinks a newer entry under the same key).
//!
//! Most tags name one entry (`image:42`), a few name many (`images`). A
//! tag's one member is kept inline, in the tag's own place in the index;
//! only a tag with several gets a table of its own. A per-entity tag then
//! costs its place in the index and nothing more, where a table for one
//! member took an allocation of 128 bytes.

use std::collections::HashMap;
use std::sync::Arc;

use super::SlotKey;

/// Tag → the keys (and slot ids) carrying it.
#[derive(Debug, Default)]
pub(super) struct TagIndex(HashMap<Arc<str>, Members>);

#[derive(Debug)]
enum Members {
    One(SlotKey, u64),
    // Boxed: a table is 48 bytes, and every tag's place in the index would
    // be that large, the many per-entity tags with one member included.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<SlotKey, u64>>),
}

impl Members {
    fn insert(&mut self, key: &SlotKey, id: u64) {
        match self {
            Members::One(only, only_id) if only == key => *only_id = id,
            Members::One(only, only_id) => {
                let both = [(only.clone(), *only_id), (key.clone(), id)];
                *self = Members::Many(Box::new(HashMap::from(both)));
            }
            Members::Many(keys) => {
                keys.insert(key.clone(), id);
            }
        }
    }

    /// Removes `key` if the index names slot `id` under it; whether the tag
    /// has no member left.
    fn remove(&mut self, key: &SlotKey, id: u64) -> bool {
        match self {
            Members::One(only, only_id) => only == key && *only_id == id,
            Members::Many(keys) => {
                if keys.get(key) == Some(&id) {
                    keys.remove(key);
                }
                if keys.len() == 1 {
                    // Back to one: the table goes.
                    let (only, only_id) = keys.drain().next().expect("one member");
                    *self = Members::One(only, only_id);
                }
                matches!(self, Members::Many(keys) if keys.is_empty())
            }
        }
    }

    fn each(&self) -> impl Iterator<Item = (&SlotKey, u64)> {
        let (one, many) = match self {
            Members::One(key, id) => (Some((key, *id)), None),
            Members::Many(keys) => (None, Some(keys.iter().map(|(k, id)| (k, *id)))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

impl TagIndex {
    /// Lists `key`, now slot `id`, under `tag`.
    pub(super) fn link(&mut self, tag: &Arc<str>, key: &SlotKey, id: u64) {
        match self.0.get_mut(tag) {
            Some(members) => members.insert(key, id),
            None => {
                self.0.insert(tag.clone(), Members::One(key.clone(), id));
            }
        }
    }

    /// Unlinks `key` from each of `tags`, only where the index still names
    /// slot `id` under it.
    pub(super) fn unlink(&mut self, tags: &[Arc<str>], key: &SlotKey, id: u64) {
        for tag in tags {
            if let Some(members) = self.0.get_mut(tag)
                && members.remove(key, id)
            {
                self.0.remove(tag);
            }
        }
    }

    /// The key and slot id of every entry listed under one of `tags`.
    pub(super) fn members(&self, tags: &[&str]) -> Vec<(SlotKey, u64)> {
        tags.iter()
            .filter_map(|tag| self.0.get(*tag))
            .flat_map(|members| members.each().map(|(k, id)| (k.clone(), id)))
            .collect()
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(super) fn lists(&self, tag: &str) -> bool {
        self.0.contains_key(tag)
    }

    /// How many (tag, key) pairs are listed.
    #[cfg(test)]
    pub(super) fn pairs(&self) -> usize {
        self.0.values().map(|m| m.each().count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SlotKey {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn a_tag_keeps_one_member_inline_and_a_table_for_several() {
        let mut index = TagIndex::default();
        let tag: Arc<str> = Arc::from("t");
        index.link(&tag, &key("a"), 1);
        assert!(matches!(index.0["t"], Members::One(..)));
        index.link(&tag, &key("a"), 2);
        assert_eq!(index.members(&["t"]), [(key("a"), 2)]);
        index.link(&tag, &key("b"), 3);
        assert!(matches!(index.0["t"], Members::Many(..)));
        let mut members = index.members(&["t"]);
        members.sort();
        assert_eq!(members, [(key("a"), 2), (key("b"), 3)]);
        // Down to one, the table goes; down to none, the tag goes.
        index.unlink(std::slice::from_ref(&tag), &key("b"), 3);
        assert!(matches!(index.0["t"], Members::One(..)));
        assert_eq!(index.members(&["t"]), [(key("a"), 2)]);
        index.unlink(&[tag], &key("a"), 2);
        assert!(index.is_empty());
    }

    #[test]
    fn unlinking_an_older_slot_leaves_the_newer_one_listed() {
        let mut index = TagIndex::default();
        let tags: [Arc<str>; 2] = [Arc::from("one"), Arc::from("many")];
        index.link(&tags[1], &key("other"), 9);
        for tag in &tags {
            index.link(tag, &key("k"), 1);
            index.link(tag, &key("k"), 2);
        }
        index.unlink(&tags, &key("k"), 1);
        assert_eq!(index.members(&["one"]), [(key("k"), 2)]);
        assert!(index.members(&["many"]).contains(&(key("k"), 2)));
        assert_eq!(index.pairs(), 3);
    }
}
