//! The API's OpenAPI document: every cached read documents its conditional
//! headers, validators and 304; every guarded write its `If-Match`, 412
//! and 428; and the service serves the document at `/openapi.json`.

mod common;

use common::Server;
use serde_json::Value;

const READS: [&str; 8] = [
    "/api/settings",
    "/api/cameras",
    "/api/cameras/{id}",
    "/api/cameras/{id}/images/count",
    "/api/cameras/{id}/images/latest",
    "/api/cameras/{id}/images/recent",
    "/api/images/{id}",
    "/api/images/{id}/file",
];
const WRITES: [(&str, &str, &str); 3] = [
    ("/api/settings", "put", "200"),
    ("/api/cameras/{id}", "put", "200"),
    ("/api/cameras/{id}/capture", "post", "201"),
];

fn header_parameters(operation: &Value) -> Vec<String> {
    operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn check(doc: &Value) {
    for path in READS {
        let get = &doc["paths"][path]["get"];
        assert!(get.is_object(), "GET {path} is not documented");
        let headers = header_parameters(get);
        assert_eq!(
            headers,
            ["If-None-Match", "If-Modified-Since"],
            "GET {path}"
        );
        for status in ["200", "304"] {
            let response = &get["responses"][status];
            for header in ["ETag", "Last-Modified", "Cache-Control"] {
                assert!(
                    response["headers"][header]["schema"]["type"] == "string",
                    "GET {path} {status} lacks {header}: {response}"
                );
            }
        }
        assert!(
            get["responses"]["412"].is_null(),
            "a read is not a guarded write"
        );
    }
    for (path, method, success) in WRITES {
        let write = &doc["paths"][path][method];
        let headers = header_parameters(write);
        assert_eq!(
            headers,
            ["If-Match", "If-Unmodified-Since"],
            "{method} {path}"
        );
        for status in [success, "412", "428"] {
            assert!(
                write["responses"][status].is_object(),
                "{method} {path} lacks {status}"
            );
        }
        assert!(write["responses"]["412"]["headers"]["ETag"].is_object());
        assert!(
            write["responses"]["304"].is_null(),
            "a write is not a cached read"
        );
        // The success response of a write is not a cached read's either.
        assert!(write["responses"][success]["headers"]["Cache-Control"].is_null());
    }
}

#[test]
fn the_document_says_what_caching_adds_to_each_operation() {
    let doc = serde_json::to_value(timelapse::openapi::document()).unwrap();
    check(&doc);
}

#[tokio::test]
async fn the_service_serves_the_document() {
    let server = Server::start();
    let response = reqwest::get(server.url("/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    check(&doc);
    assert_eq!(doc["info"]["title"], "Timelapse");
}
