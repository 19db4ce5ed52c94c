//! A real browser against the service: headless Chromium loads `/?selftest`,
//! whose script fetches `/api/settings` twice, the second time revalidating
//! (`cache: "no-cache"` sends `If-None-Match`), and shows the live stats from
//! `/api/events`. The DOM it dumps says what JavaScript saw; the server's
//! counters say a 304 went over the wire.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{PATIENCE, Server};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The text inside the element with `id`, entities of text nodes decoded.
fn text_of(dom: &str, id: &str) -> Option<String> {
    let start = dom.find(&format!(r#"id="{id}""#))?;
    let open_end = start + dom[start..].find('>')? + 1;
    let close = open_end + dom[open_end..].find("</")?;
    Some(
        dom[open_end..close]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The opening tag of the element with `id`.
fn open_tag<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!(r#"id="{id}""#))?;
    let tag_start = dom[..start].rfind('<')?;
    let end = start + dom[start..].find('>')?;
    Some(&dom[tag_start..=end])
}

/// Runs Chromium headless on `url` and returns the DOM once the page's
/// scripts have run.
fn dump_dom(url: &str, scratch: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `bash scripts/test.sh`, which installs Chromium \
         (`apt-get install -y chromium`)"
    );
    let profile = scratch.join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let dom_path = scratch.join("dom.html");
    let log_path = scratch.join("chromium.log");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_path).expect("dom file"))
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("Chromium starts");
    let deadline = Instant::now() + 2 * PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for Chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium did not finish; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let dom = std::fs::read_to_string(&dom_path).expect("DOM dump");
    assert!(
        status.success() && !dom.is_empty(),
        "Chromium failed ({status}); its log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    dom
}

#[test]
fn a_browser_revalidates_with_a_304_and_shows_live_stats() {
    let server = Server::start();
    let dom = dump_dom(&server.url("/?selftest"), &server.data_dir);

    // What JavaScript saw: two 200s with one ETag and one body (the browser
    // turns a 304 into its cached 200).
    let selftest = text_of(&dom, "selftest").expect("#selftest in the DOM");
    let seen: Value = serde_json::from_str(&selftest)
        .unwrap_or_else(|error| panic!("#selftest is not JSON ({error}): {selftest:?}\n{dom}"));
    let (first, second) = (&seen["first"], &seen["second"]);
    assert_eq!(first["status"], 200, "{seen}");
    assert_eq!(second["status"], 200, "{seen}");
    assert_eq!(first["etag"], r#""1732442400""#, "{seen}");
    assert_eq!(second["etag"], first["etag"], "{seen}");
    assert_eq!(second["body"], first["body"], "{seen}");

    // What went over the wire: the second fetch was a conditional request
    // answered 304 from the server's cache.
    let stats = server.stats();
    assert!(stats.not_modified >= 1, "no 304 was sent: {stats:?}");
    assert!(stats.hits >= 1, "{stats:?}");

    // The live stats came from the event stream, after the self-test, so
    // they count its 304; then the page closed the stream.
    let live = open_tag(&dom, "live").expect("#live in the DOM");
    assert!(
        live.contains(r#"data-done="true""#),
        "the stream never delivered: {live}\n{dom}"
    );
    let shown: u64 = text_of(&dom, "stat-not-modified")
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("#stat-not-modified holds no number:\n{dom}"));
    assert!(shown >= 1, "the page shows {shown} 304s");
    let bytes_saved: u64 = text_of(&dom, "stat-bytes-saved")
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("#stat-bytes-saved holds no number:\n{dom}"));
    assert!(bytes_saved > 0, "the page shows {bytes_saved} bytes saved");
    // The stale-serving counters are shown with the rest, as numbers.
    for id in [
        "stat-stale-served",
        "stat-refreshes",
        "stat-revalidated-unchanged",
    ] {
        let shown = text_of(&dom, id).unwrap_or_default();
        assert!(
            shown.trim().parse::<u64>().is_ok(),
            "#{id} holds no number: {shown:?}\n{dom}"
        );
    }

    // The cameras rendered from /api/cameras, each with its latest capture
    // and its strip of recent frames (camera 3 has none yet).
    for id in 1..=3 {
        assert!(
            dom.contains(&format!(r#"<article class="camera" data-id="{id}""#)),
            "camera {id} missing:\n{dom}"
        );
    }
    assert!(
        dom.contains(r#"class="latest" src="/api/images/3/file""#),
        "camera 1's latest capture is image 3:\n{dom}"
    );
    for frame in 1..=5 {
        assert!(
            dom.contains(&format!(
                r#"src="/api/images/{frame}/file" alt="frame {frame}""#
            )),
            "frame {frame} missing from the strips:\n{dom}"
        );
    }
    assert!(
        dom.contains("no capture yet"),
        "camera 3 has no capture:\n{dom}"
    );
    assert!(
        dom.contains("<dd>60 s</dd>") && dom.contains("<dd>30 days</dd>"),
        "the settings are not shown:\n{dom}"
    );

    // Per route: a table row and a chart line for each route served, with
    // the settings route's 304 in its row.
    for route in [
        "timelapse::read::settings",
        "timelapse::read::cameras",
        "timelapse::read::latest_image",
        "timelapse::read::recent_images",
        "timelapse::page",
    ] {
        assert!(
            dom.contains(&format!(r#"<tr data-route="{route}">"#)),
            "no table row for {route}:\n{dom}"
        );
        assert!(
            dom.contains(&format!(r#"data-route="{route}"></polyline>"#)),
            "no chart line for {route}:\n{dom}"
        );
    }
    let row_start = dom
        .find(r#"<tr data-route="timelapse::read::settings">"#)
        .expect("the settings row");
    let row = &dom[row_start..row_start + dom[row_start..].find("</tr>").expect("row end")];
    let not_modified: u64 = row
        .split(r#"class="not-modified">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 304 count in the settings row: {row}"));
    assert!(not_modified >= 1, "the settings row shows no 304: {row}");
}
