//! The OpenAPI document and Swagger UI, served by the binary itself.

use crate::helpers::spawn_app;

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
            "/auth/login",
            "/auth/logout",
            "/auth/refresh",
            "/docs",
            "/health",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/users",
            "/users/me",
            "/users/{id}"
        ]);
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
