//! The OpenAPI document and Swagger UI, served by the binary itself.

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn document(app: &TestApp) -> Value {
    let reply = app.anonymous().get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    reply.json()
}

/// `(path, method, operation)` for every operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

#[tokio::test]
async fn the_document_lists_each_canonical_route_once() {
    let Some(app) = spawn_app().await else { return };
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.0"));
    let mut paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    paths.sort();
    assert_eq!(paths, [
            "/.well-known/jwks.json",
            "/auth/login",
            "/auth/logout",
            "/auth/password-reset",
            "/auth/password-reset/confirm",
            "/auth/refresh",
            "/auth/verify-email",
            "/auth/verify-email/resend",
            "/docs",
            "/health",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/users",
            "/users/export",
            "/users/import",
            "/users/me",
            "/users/{id}",
            "/users/{id}/email-verification",
            "/users/{id}/lockout",
            "/users/{id}/sessions",
            "/users/{id}/sessions/{sid}"
        ]);
    // The NDJSON routes say so, on both sides (docs/api.md §9).
    let schema_of = |content: &Value| -> Value {
        let reference = content["application/x-ndjson"]["schema"]["$ref"].as_str().expect("an NDJSON schema");
        doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")].clone()
    };
    let import = &doc["paths"]["/users/import"]["post"];
    assert!(schema_of(&import["requestBody"]["content"])["properties"]["password_hash"].is_object());
    assert!(schema_of(&import["responses"]["200"]["content"])["properties"]["source_id"].is_object());
    assert!(import["responses"]["415"].is_object() && import["responses"]["413"].is_object());
    let export = &doc["paths"]["/users/export"]["get"];
    assert!(schema_of(&export["responses"]["200"]["content"])["properties"]["password_hash"].is_object());
    let users = &doc["paths"]["/users"];
    assert!(users["get"].is_object() && users["post"].is_object());
    let user = &doc["paths"]["/users/{id}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(user[method].is_object(), "{method}");
    }
    assert_eq!(
        users["post"]["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert!(users["post"]["responses"]["201"]["headers"]["Location"].is_object());
    assert!(users["get"]["responses"]["200"]["headers"]["Link"].is_object());
    let new_user = &doc["components"]["schemas"]["NewUser"];
    assert_eq!(new_user["additionalProperties"], false);
    assert_eq!(new_user["properties"]["username"]["maxLength"], 32);
    assert_eq!(
        doc["components"]["schemas"]["User"]["properties"]["name"]["nullable"],
        true
    );
    // Served under /api as well.
    assert_eq!(app.get("/api/openapi.json").await.json(), doc);
}

#[tokio::test]
async fn swagger_ui_and_every_asset_it_loads_come_from_the_binary() {
    let Some(app) = spawn_app().await else { return };
    let entry = app.get("/docs").await;
    assert_eq!(entry.status, 302);
    assert_eq!(
        entry.header("location").as_deref(),
        Some("/docs/index.html")
    );
    let page = app.get("/docs/index.html").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .expect("type")
        .starts_with("text/html"));
    for asset in users_http::docs_asset_names() {
        let reply = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(reply.status, 200, "{asset}");
        assert!(!reply.text.is_empty(), "{asset}");
    }
    // Every file the page references is one of them, and nothing points off the machine.
    for referenced in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
        "favicon-32x32.png",
    ] {
        assert!(page.text.contains(referenced), "{referenced}");
    }
    assert!(!page.text.contains("http://") && !page.text.contains("https://"));
    let init = app.get("/docs/swagger-initializer.js").await.text;
    assert!(init.contains("validatorUrl: null"));
    assert_eq!(
        app.get("/api/docs").await.header("location").as_deref(),
        Some("/api/docs/index.html")
    );
}

#[tokio::test]
async fn an_unknown_docs_file_is_a_problem_404() {
    let Some(app) = spawn_app().await else { return };
    for path in [
        "/docs/nope.js",
        "/docs/..%2FCargo.toml",
        "/docs/index.html/x",
    ] {
        app.get(path).await.problem(404, "not-found");
    }
}

#[tokio::test]
async fn every_operation_has_an_id_of_its_own() {
    // A shared id made generated clients drop PUT silently and spec validators reject the document.
    let Some(app) = spawn_app().await else { return };
    let doc = document(&app).await;
    let ids: Vec<String> = operations(&doc)
        .iter()
        .map(|(path, method, operation)| {
            operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no id")).to_owned()
        })
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let user = &doc["paths"]["/users/{id}"];
    assert_eq!(user["put"]["operationId"], "putUser");
    assert_eq!(user["patch"]["operationId"], "updateUser");
    // The links a client follows after a sign-up name operations that exist.
    for (name, link) in doc["paths"]["/users"]["post"]["responses"]["201"]["links"].as_object().expect("links") {
        assert!(ids.iter().any(|id| *id == link["operationId"]), "{name}");
    }
}

#[tokio::test]
async fn an_operation_says_it_needs_a_token_exactly_when_it_answers_401_without_one() {
    // Mail on, so that every operation of the document is there (with mail off its routes answer 404).
    let mail_dir = std::env::temp_dir().join(format!("users-api-docs-mail-{}", uuid::Uuid::new_v4()));
    let mail_dir = mail_dir.to_string_lossy().into_owned();
    let mail = [
        ("APP__MAIL__TRANSPORT", "file"),
        ("APP__MAIL__DIR", mail_dir.as_str()),
        ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
        ("APP__MAIL__LINK_BASE", "http://localhost:3000/account"),
    ];
    let Some(app) = spawn_app_with(|url| url, &mail).await else { return };
    let doc = document(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    for (path, method, operation) in operations(&doc) {
        let requirements = operation["security"].as_array().cloned().unwrap_or_default();
        for requirement in &requirements {
            for scheme in requirement.as_object().expect("requirement").keys() {
                assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
            }
        }
        // Anonymous access is allowed when there is no requirement, or an empty one among them.
        let token_required =
            !requirements.is_empty() && requirements.iter().all(|r| !r.as_object().expect("object").is_empty());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let url = path.replace("{id}", "1");
        let reply = if operation["requestBody"].is_object() {
            app.anonymous().json(method.clone(), &url, &json!({})).await
        } else {
            app.anonymous().send(method.clone(), &url, None, &[]).await
        };
        assert_eq!(reply.status == 401, token_required, "{method} {path}: {} {}", reply.status, reply.text);
    }
}

#[tokio::test]
async fn generators_find_tags_servers_and_names_for_every_value() {
    let Some(app) = spawn_app().await else { return };
    let doc = document(&app).await;
    let declared: BTreeSet<&str> =
        doc["tags"].as_array().expect("tags").iter().map(|t| t["name"].as_str().expect("name")).collect();
    for (path, method, operation) in operations(&doc) {
        assert!(operation["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path}");
        for tag in operation["tags"].as_array().expect("tags") {
            assert!(declared.contains(tag.as_str().expect("tag")), "{method} {path}: {tag}");
        }
    }
    // Each server the document names serves the routes.
    let servers = doc["servers"].as_array().expect("servers");
    assert!(!servers.is_empty());
    for server in servers {
        let prefix = server["url"].as_str().expect("url").trim_end_matches('/');
        assert_eq!(app.anonymous().get(&format!("{prefix}/health")).await.status, 200, "{prefix}");
    }
    // Descending sorts get names of their own rather than VALUE_1 … VALUE_9.
    let sort = doc["paths"]["/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "sort")
        .expect("sort")["schema"]
        .clone();
    let values = sort["enum"].as_array().expect("enum");
    let names = sort["x-enum-varnames"].as_array().expect("names");
    assert_eq!(names.len(), values.len());
    let position = |value: &str| values.iter().position(|v| v == value).expect(value);
    assert_eq!(names[position("-created_at")], "CREATED_AT_DESC");
    assert_eq!(names[position("created_at")], "CREATED_AT");
    assert_eq!(names.iter().filter_map(Value::as_str).collect::<BTreeSet<_>>().len(), names.len());
}

#[tokio::test]
async fn every_string_a_client_sends_is_bounded() {
    let Some(app) = spawn_app().await else { return };
    let doc = document(&app).await;
    for parameter in doc["paths"]["/users"]["get"]["parameters"].as_array().expect("parameters") {
        let schema = &parameter["schema"];
        if schema["type"] == "string" {
            assert!(schema["maxLength"].is_u64() || schema["enum"].is_array(), "{}", parameter["name"]);
        }
    }
    let schemas = &doc["components"]["schemas"];
    for branch in ["LoginWithUsername", "LoginWithEmail"] {
        for (field, schema) in schemas[branch]["properties"].as_object().expect("properties") {
            assert!(schema["maxLength"].is_u64(), "{branch}.{field}");
        }
    }
    // The bounds refuse no login that could succeed: the longest username and email log in.
    let username = "u".repeat(32);
    // 64 + 1 + 3 × 62 + 3 = 254 characters, the most an address may have.
    let label = "d".repeat(61);
    let email = format!("{}@{label}.{label}.{label}.com", "e".repeat(64));
    assert_eq!(email.len(), 254);
    let created = app.create(json!({"username": username, "email": email, "password": "orbit-tulip-1"})).await;
    let username_bound = &schemas["LoginWithUsername"]["properties"]["username"]["maxLength"];
    assert_eq!(username_bound, &json!(created["username"].as_str().expect("username").chars().count()));
    let email_bound = &schemas["LoginWithEmail"]["properties"]["email"]["maxLength"];
    assert_eq!(email_bound, &json!(created["email"].as_str().expect("email").chars().count()));
    for login in [json!({"username": username, "password": "orbit-tulip-1"}), json!({"email": email, "password": "orbit-tulip-1"})]
    {
        assert_eq!(app.anonymous().post("/auth/login", &login).await.status, 200, "{login}");
    }
}

#[tokio::test]
async fn login_takes_exactly_one_of_username_or_email_in_the_schema_too() {
    let Some(app) = spawn_app().await else { return };
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let body = &doc["paths"]["/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let login = &schemas[body["$ref"].as_str().expect("ref").trim_start_matches("#/components/schemas/")];
    let branches: Vec<&Value> = login["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|b| &schemas[b["$ref"].as_str().expect("ref").trim_start_matches("#/components/schemas/")])
        .collect();
    // Each branch requires its name and the password and allows nothing else, so both names or neither match
    // no branch: what the service answers with 400.
    let mut names = Vec::new();
    for branch in branches {
        assert_eq!(branch["additionalProperties"], false);
        let properties: BTreeSet<&str> =
            branch["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        let required: BTreeSet<&str> =
            branch["required"].as_array().expect("required").iter().map(|r| r.as_str().expect("name")).collect();
        assert_eq!(properties, required);
        assert!(required.contains("password"));
        names.extend(required.into_iter().filter(|r| *r != "password").map(str::to_owned));
    }
    names.sort();
    assert_eq!(names, ["email", "username"]);
    for neither_or_both in [
        json!({"password": "orbit-tulip-1"}),
        json!({"username": "alice", "email": "alice@example.com", "password": "orbit-tulip-1"}),
    ] {
        app.anonymous().post("/auth/login", &neither_or_both).await.problem(400, "validation");
    }
}

#[tokio::test]
async fn the_auth_routes_401_is_about_their_credentials_and_responses_show_every_field() {
    let Some(app) = spawn_app().await else { return };
    let doc = document(&app).await;
    for path in ["/auth/login", "/auth/refresh"] {
        let description = doc["paths"][path]["post"]["responses"]["401"]["description"].as_str().expect("401");
        assert!(!description.to_lowercase().contains("access token"), "{path}: {description}");
    }
    // A user without name or age still has both, as null, and the schema says so.
    let user = &doc["components"]["schemas"]["User"];
    let required = user["required"].as_array().expect("required");
    for field in ["name", "age"] {
        assert!(required.contains(&json!(field)) && user["properties"][field]["nullable"] == true, "{field}");
    }
    let created = app.create_user("plain").await;
    assert!(created["name"].is_null() && created["age"].is_null(), "{created}");
    assert!(created.as_object().expect("user").contains_key("name"));
}
