//! The README's walk-through, run with the `curl` binary itself: a GET with
//! its validators, `--etag-save`, a 304 from `--etag-compare`, a PUT, and the
//! same conditional request answered 200 with the new ETag.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

/// Runs `curl -s ARGS…` and returns what it printed. Fails, never skips,
/// when curl is missing: `bash scripts/test.sh` installs it.
fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .arg("-s")
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run `curl` ({error}): install it (`apt-get install -y curl`) \
                 or run the tests with `bash scripts/test.sh`, which does"
            )
        });
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The status line and the value of `name` in `curl -i` output.
fn status_and_header(output: &str, name: &str) -> (String, Option<String>) {
    let mut lines = output.lines();
    let status = lines.next().unwrap_or_default().trim_end().to_owned();
    let value = lines
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        });
    (status, value)
}

#[test]
fn curl_walk_through() {
    let server = Server::start();
    let url = server.url("/api/cameras/1");
    let dir = server.data_dir.clone();
    let etag_file = dir.join("e.txt");
    let etag_file = etag_file.to_str().expect("UTF-8 path");

    // curl -si http://127.0.0.1:3000/api/cameras/1
    let first = curl(&["-i", &url]);
    let (status, etag) = status_and_header(&first, "etag");
    assert_eq!(status, "HTTP/1.1 200 OK", "{first}");
    assert_eq!(etag.as_deref(), Some(r#""1-1732442400""#), "{first}");
    let (_, cache_control) = status_and_header(&first, "cache-control");
    assert_eq!(
        cache_control.as_deref(),
        Some("private, no-cache, max-age=300")
    );
    assert!(
        first.ends_with(r#""updated_at":"2024-11-24T10:00:00Z"}"#),
        "{first}"
    );

    // curl --etag-save e.txt http://127.0.0.1:3000/api/cameras/1
    let body = curl(&["--etag-save", etag_file, &url]);
    assert!(body.starts_with(r#"{"id":1,"#), "{body}");
    let saved = std::fs::read_to_string(etag_file).expect("curl wrote the ETag");
    assert_eq!(saved.trim(), r#""1-1732442400""#);

    // curl -si --etag-compare e.txt http://127.0.0.1:3000/api/cameras/1
    let revalidated = curl(&["-i", "--etag-compare", etag_file, &url]);
    let (status, etag) = status_and_header(&revalidated, "etag");
    assert_eq!(status, "HTTP/1.1 304 Not Modified", "{revalidated}");
    assert_eq!(etag.as_deref(), Some(r#""1-1732442400""#));
    assert_eq!(server.stats().not_modified, 1);

    // curl -si -X PUT -H 'content-type: application/json' -H 'if-match: "1-1732442400"' \
    //   -d '{"name":"Garden","location":"Pond","enabled":true}' http://127.0.0.1:3000/api/cameras/1
    let put = curl(&[
        "-i",
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-H",
        r#"if-match: "1-1732442400""#,
        "-d",
        r#"{"name":"Garden","location":"Pond","enabled":true}"#,
        &url,
    ]);
    let (status, new_etag) = status_and_header(&put, "etag");
    assert_eq!(status, "HTTP/1.1 200 OK", "{put}");
    let new_etag = new_etag.expect("the PUT returns the new ETag");
    assert_ne!(new_etag, r#""1-1732442400""#);
    server.settle("the camera event", |s| s.invalidations >= 1);

    // The same request as before: the saved ETag is stale, so a 200 with the new one.
    let changed = curl(&["-i", "--etag-compare", etag_file, &url]);
    let (status, etag) = status_and_header(&changed, "etag");
    assert_eq!(status, "HTTP/1.1 200 OK", "{changed}");
    assert_eq!(etag, Some(new_etag.clone()));
    assert!(changed.contains(r#""location":"Pond""#), "{changed}");

    // Replaying the PUT with the old If-Match now fails and changes nothing.
    let replay = curl(&[
        "-i",
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-H",
        r#"if-match: "1-1732442400""#,
        "-d",
        r#"{"name":"Garden","location":"Shed","enabled":true}"#,
        &url,
    ]);
    let (status, etag) = status_and_header(&replay, "etag");
    assert_eq!(status, "HTTP/1.1 412 Precondition Failed", "{replay}");
    assert_eq!(etag, Some(new_etag));
    assert!(Path::new(etag_file).exists());
}

/// The page is cached by `CacheLayer` rather than the attribute: an ETag
/// and a 304 all the same.
#[test]
fn the_page_gets_an_etag_and_a_304_from_the_layer() {
    let server = Server::start();
    let url = server.url("/");
    let first = curl(&["-i", &url]);
    let (status, etag) = status_and_header(&first, "etag");
    assert_eq!(status, "HTTP/1.1 200 OK", "{first}");
    let etag = etag.expect("the page has an ETag");
    assert!(first.contains("<html"), "{first}");
    let again = curl(&["-i", "-H", &format!("if-none-match: {etag}"), &url]);
    let (status, same) = status_and_header(&again, "etag");
    assert_eq!(status, "HTTP/1.1 304 Not Modified", "{again}");
    assert_eq!(same, Some(etag));
    let stats = server.stats();
    assert_eq!((stats.stores, stats.not_modified), (1, 1), "{stats:?}");
}
