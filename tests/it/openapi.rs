//! The OpenAPI document covers every JSON route, and every route it names exists.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// Every `/api/…` path given to `.route(` in the web layer's source.
fn routed_api_paths() -> BTreeSet<String> {
    let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path)
            } else {
                files.push(path)
            }
        }
    }
    let mut paths = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        for piece in source.split(".route(").skip(1) {
            let literal = piece.trim_start().trim_start_matches('"');
            let path = literal.split('"').next().unwrap();
            if path.starts_with("/api/") {
                paths.insert(path.to_string());
            }
        }
    }
    paths
}

#[tokio::test]
async fn the_document_names_every_api_route() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/api/v1/openapi.json").await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let routed = routed_api_paths();
    assert!(routed.len() >= 14, "found the routes: {routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/api/v1/openapi.json").await;
    for (path, operations) in document["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "5d7c1f9e-0000-4000-8000-000000000000")
            .replace("{mobile}", "13800138000");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if path == "/api/test/reset" {
                continue; // would empty the app's data; it has its own test
            }
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(&app.isp_key)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_ne!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            assert!(
                !kind.clone().unwrap_or_default().starts_with("text/html"),
                "{method} {path} fell through to the page router ({kind:?})"
            );
            if response.status().is_success() {
                continue;
            }
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"]["code"].is_string() || body["outcome"].is_string(),
                "{method} {path}: {body}"
            );
        }
    }
}
