//! `schemas/openapi.yaml` against the sandbox: the file lists exactly the
//! routes the sandbox serves; every operation answers (not 404, not 405)
//! with a status the file documents and a body its schema accepts; the
//! error answers it promises (401, 207, 413, 429 with `Retry-After`) have
//! the documented shape.

mod sandbox_fixture;

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use sandbox_fixture::{Api, Production, Running, fixture, options};
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every (METHOD, path) the file describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// Follows a `$ref` within the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} names nothing")),
        None => value,
    }
}

/// What `schema` (a schema object of the document) finds wrong in `body`.
fn problems(doc: &Value, schema: &Value, body: &Value) -> Vec<String> {
    // The whole document is the root, so its `$ref`s resolve.
    let mut root = doc.clone();
    root["allOf"] = json!([schema]);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("the OpenAPI schemas compile");
    validator
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Checks an answer against the operation's documented responses.
fn assert_documented(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let operation = &doc["paths"][path][method.to_lowercase()];
    let responses = operation["responses"].as_object().unwrap();
    let code = status.as_u16().to_string();
    let family = format!("{}XX", status.as_u16() / 100);
    let Some(response) = responses.get(&code).or_else(|| responses.get(&family)) else {
        panic!("{method} {path} answered {status}, which the file does not list: {body}");
    };
    let response = resolve(doc, response);
    match response.pointer("/content/application~1json/schema") {
        Some(schema) => {
            let problems = problems(doc, schema, body);
            assert!(
                problems.is_empty(),
                "{method} {path} {status}: {problems:#?}\n{body}"
            );
        }
        None => assert_eq!(body, &Value::Null, "{method} {path} {status} has no body"),
    }
}

#[test]
fn the_file_lists_exactly_the_routes_the_sandbox_serves() {
    let documented = operations(&openapi());
    let served: BTreeSet<(String, String)> = grantsync::sandbox::ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
}

#[test]
fn the_file_is_openapi_3_1_and_every_reference_resolves() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut stack = vec![&doc];
    let mut references = 0;
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    references += 1;
                    resolve(&doc, value);
                    assert!(reference.starts_with("#/components/"), "{reference}");
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(references > 50, "{references}");

    // The schemas do reject a body that breaks them.
    let assignment = json!({"$ref": "#/components/schemas/Assignment"});
    let wrong = json!({"id": "7", "state": "gone"});
    assert!(problems(&doc, &assignment, &wrong).len() >= 2);
}

/// The path of an operation with its ids filled in.
fn concrete(path: &str, assignment: &str, p: &Production) -> String {
    match path {
        "/api/v1/assignments/{id}" => format!("/api/v1/assignments/{assignment}"),
        "/api/v1/identities/{id}/access" => format!(
            "/api/v1/identities/{}/access?node_id={}",
            p.identity("alice@example.com"),
            p.node("acme/engineering/api")
        ),
        other => other.to_owned(),
    }
}

async fn call(api: &Api, method: &str, path: &str, p: &Production) -> (StatusCode, Value) {
    match method {
        "GET" => api.get(path).await,
        "DELETE" => api.delete(path).await,
        "PATCH" => {
            api.patch(path, json!({"effective_to": "2027-01-31T23:59:59Z"}))
                .await
        }
        "POST" if path.ends_with("bulk-create") => {
            let item = p.item("carol@example.com", "acme/finance", "viewer");
            api.post(path, json!({"assignments": [item]})).await
        }
        "POST" => {
            api.post(path, p.item("bob@example.com", "acme/finance", "viewer"))
                .await
        }
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let doc = openapi();
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let (_, page) = api.get("/api/v1/assignments").await;
    let assignment = page["data"][0]["id"].as_str().unwrap().to_owned();

    // Deletes last: the other calls on the same assignment need it.
    let mut all: Vec<(String, String)> = operations(&doc).into_iter().collect();
    all.sort_by_key(|(method, _)| method == "DELETE");
    for (method, path) in &all {
        let url = concrete(path, &assignment, &p);
        let (status, body) = call(&api, method, &url, &p).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {url}: {status} {body}"
        );
        assert!(status.is_success(), "{method} {url}: {status} {body}");
        assert_documented(&doc, method, path, status, &body);
    }

    // A method the file does not list for a path is not served either.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = concrete(path, &assignment, &p);
            let (status, _) = api.send(api.request(method.clone(), &url)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}");
        }
    }
}

#[tokio::test]
async fn error_answers_have_the_documented_shape() {
    let doc = openapi();
    let running = Running::two_environments().await;
    let p = Production::new();

    let (status, body) = running.anonymous().get("/api/v1/assignments").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_documented(&doc, "GET", "/api/v1/assignments", status, &body);

    // One new item and one the fixture already holds: 207, item by item.
    let api = running.api("sk_prod");
    let items = json!({"assignments": [
        p.item("bob@example.com", "acme", "viewer"),
        p.item("alice@example.com", "acme", "viewer"),
    ]});
    let (status, body) = api.post("/api/v1/assignments/bulk-create", items).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"][1]["error"]["code"], "already_assigned");
    assert_documented(
        &doc,
        "POST",
        "/api/v1/assignments/bulk-create",
        status,
        &body,
    );

    let (status, body) = api.get("/api/v1/assignments/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_documented(&doc, "GET", "/api/v1/assignments/{id}", status, &body);
}

#[tokio::test]
async fn too_many_items_answer_413_and_rate_limits_429_with_retry_after() {
    let doc = openapi();
    let p = Production::new();

    let data = tempfile::tempdir().unwrap();
    let mut small = options(fixture("sandbox/two-environments.yaml"), data.path());
    small.faults.bulk_limit = Some(1);
    let running = Running::start(small).await;
    let items = json!({"assignments": [
        p.item("bob@example.com", "acme", "viewer"),
        p.item("carol@example.com", "acme", "viewer"),
    ]});
    let (status, body) = running
        .api("sk_prod")
        .post("/api/v1/assignments/bulk-create", items)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_many_items");
    assert_documented(
        &doc,
        "POST",
        "/api/v1/assignments/bulk-create",
        status,
        &body,
    );

    let data = tempfile::tempdir().unwrap();
    let mut limited = options(fixture("sandbox/two-environments.yaml"), data.path());
    limited.faults.rate_limit_rate = 1.0;
    limited.faults.retry_after_secs = Some(7);
    limited.faults.seed = Some(1);
    let running = Running::start(limited).await;
    let api = running.api("sk_prod");
    let response = api
        .request(Method::GET, "/api/v1/environment")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.unwrap();
    assert!(retry_after.is_some(), "429 without Retry-After");
    assert_documented(
        &doc,
        "GET",
        "/api/v1/environment",
        StatusCode::TOO_MANY_REQUESTS,
        &body,
    );
    let documented = &doc["components"]["responses"]["RateLimited"]["headers"]["Retry-After"];
    assert_eq!(documented["required"], true);
}
