-- Schema of the timelapse service. Times are nanoseconds since the Unix
-- epoch, so that two changes within one second still get two ETags.

CREATE TABLE settings (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    capture_interval_secs INTEGER NOT NULL,
    retention_days        INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE cameras (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    location   TEXT    NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Images never change once captured: their capture time is their version.
CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    camera_id   INTEGER NOT NULL REFERENCES cameras (id),
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    captured_at INTEGER NOT NULL
);

CREATE INDEX images_by_camera ON images (camera_id, captured_at);

-- Seed data: fixed times, so that a fresh service shows the same ETags on
-- every run. Camera 3 has no image yet.
INSERT INTO settings VALUES (1, 60, 30, 1732442400000000000);

INSERT INTO cameras VALUES
    (1, 'Garden', 'Back garden, facing south', 1, 1732442400000000000),
    (2, 'Street', 'Front window', 1, 1732442400250000000),
    (3, 'Roof', 'Roof terrace, facing west', 0, 1732442400500000000);

INSERT INTO images VALUES
    (1, 1, 640, 480, 1732442460000000000),
    (2, 1, 640, 480, 1732442520000000000),
    (3, 1, 640, 480, 1732442580000000000),
    (4, 2, 640, 480, 1732442460000000000),
    (5, 2, 640, 480, 1732442520000000000);
