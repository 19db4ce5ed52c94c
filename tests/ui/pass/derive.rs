//! `#[derive(Resource)]` by field name, by marked field, on a tuple struct
//! and on a generic struct: the style traits it implements are usable.
#![deny(warnings)]
use std::time::SystemTime;

use cached_etag::{Identified, Resource, UpdatedAt};

#[derive(Resource)]
struct Image {
    id: i64,
    updated_at: SystemTime,
    #[allow(dead_code)]
    path: String,
}

#[derive(Resource)]
struct Camera {
    #[resource(id)]
    slug: String,
    #[resource(updated_at)]
    changed: SystemTime,
}

#[derive(Resource)]
struct Version(#[resource(id)] u64, #[resource(updated_at)] SystemTime);

#[derive(Resource)]
struct Page<T> {
    #[allow(dead_code)]
    items: Vec<T>,
    updated_at: SystemTime,
}

fn composite<T: Identified + UpdatedAt>(_: &T) {}
fn timestamp<T: UpdatedAt>(_: &T) {}

fn main() {
    let now = SystemTime::now();
    composite(&Image {
        id: 1,
        updated_at: now,
        path: String::new(),
    });
    composite(&Camera {
        slug: "north".into(),
        changed: now,
    });
    composite(&Version(3, now));
    timestamp(&Page::<u8> {
        items: Vec::new(),
        updated_at: now,
    });
}
