//! What an operator watches: the Prometheus metrics.

use crate::helpers::{spawn_app, spawn_app_with, ADMIN_PASSWORD, ADMIN_USERNAME, NO_REFRESH_GRACE};
use serde_json::json;

/// The value of the sample of `name` whose labels include every one of `labels` (0 when absent).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_logins_and_reuse() {
    let Some(app) = spawn_app_with(|url| url, NO_REFRESH_GRACE).await else { return };
    let alice = app.create_user("alice").await;
    let before = app.get("/metrics").await;
    assert_eq!(before.status, 200);
    assert!(before.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let before = before.text;

    let path = format!("/users/{}", alice["id"]);
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status, 200);
    }
    for unknown in ["/nope/abc", "/nope/def"] {
        app.get(unknown).await.problem(404, "not-found");
    }
    let anonymous = app.anonymous();
    let pair = anonymous.post("/auth/login", &json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).await.json();
    for _ in 0..2 {
        anonymous.post("/auth/login", &json!({"username": "alice", "password": "wrong password"})).await;
    }
    let refresh = json!({"refresh_token": pair["refresh_token"]});
    assert_eq!(anonymous.post("/auth/refresh", &refresh).await.status, 200);
    assert_eq!(anonymous.post("/auth/refresh", &refresh).await.status, 401);

    let after = app.get("/metrics").await.text;
    let delta = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) - sample(&before, name, labels);
    assert_eq!(delta("http_requests_total", &[("method", "GET"), ("route", "/users/{id}"), ("status", "200")]), 3.0);
    assert_eq!(delta("http_requests_total", &[("route", "unmatched"), ("status", "404")]), 2.0);
    assert_eq!(delta("http_request_duration_seconds_count", &[("method", "GET"), ("route", "/users/{id}")]), 3.0);
    assert_eq!(delta("logins_total", &[("outcome", "succeeded")]), 1.0);
    assert_eq!(delta("logins_total", &[("outcome", "failed")]), 2.0);
    assert_eq!(delta("refresh_token_reuse_total", &[]), 1.0);
    assert!(!after.contains(&format!("route=\"{path}\"")) && !after.contains("/nope/"), "no raw paths as labels");
    if crate::backend() != "memory" {
        assert!(after.contains("storage_pool_connections{state=\"idle\"}"), "{after}");
        assert!(after.contains("storage_pool_connections{state=\"in_use\"}"), "{after}");
    }
}

#[tokio::test]
async fn invented_methods_share_one_metrics_label() {
    let Some(app) = spawn_app().await else { return };
    for method in ["QQ1", "QQ2", "QQ3"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        app.send(method, "/nope", None, &[]).await;
    }
    let text = app.get("/metrics").await.text;
    assert!(!text.contains("QQ"), "invented methods are no labels");
    assert!(sample(&text, "http_requests_total", &[("method", "other")]) >= 3.0);
}
