use crate::helpers::spawn_app;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_creates_get_a_hundred_distinct_ids() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    let creates = (0..100).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let body = json!({"username": format!("user{i}"), "email": format!("user{i}@example.com"), "password": "orbit-tulip-1"});
            app.post("/users", &body).await
        })
    });
    let mut ids = HashSet::new();
    for create in creates.collect::<Vec<_>>() {
        let reply = create.await.expect("task");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.insert(reply.json()["id"].as_i64().expect("id"));
    }
    assert_eq!(ids.len(), 100);
    assert_eq!(app.count().await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_of_one_username_let_exactly_one_through() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    let creates = (0..50).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let body = json!({"username": "same", "email": format!("same{i}@example.com"), "password": "orbit-tulip-1"});
            app.post("/users", &body).await
        })
    });
    let (mut created, mut conflicts) = (0, 0);
    for create in creates.collect::<Vec<_>>() {
        let reply = create.await.expect("task");
        match reply.status.as_u16() {
            201 => created += 1,
            409 => {
                assert_eq!(
                    reply.problem(409, "conflict")["errors"][0]["field"],
                    "username"
                );
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!((created, conflicts), (1, 49));
    assert_eq!(app.count().await, 1);
}
