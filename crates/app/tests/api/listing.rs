//! GET /users: pagination, filters, sort, X-Total-Count and Link (docs/api.md §3). Every test app has its bootstrap
//! admin `root` (id 1, `root@admin.example`) besides the users a test creates.

use crate::helpers::{spawn_app, Reply, TestApp};
use serde_json::json;

fn names(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json().as_array().expect("array").iter().map(|u| u["username"].as_str().expect("name").to_owned()).collect()
}

fn total(reply: &Reply) -> u64 {
    reply.header("x-total-count").expect("X-Total-Count").parse().expect("number")
}

/// root, then user0 … user5: seven users in id order.
async fn seven_users() -> Option<TestApp> {
    let app = spawn_app().await?;
    for i in 0..6 {
        app.create_user(&format!("user{i}")).await;
    }
    Some(app)
}

#[tokio::test]
async fn defaults_to_the_first_20_by_id() {
    let Some(app) = spawn_app().await else { return };
    for i in 0..24 {
        app.create_user(&format!("u{i:02}")).await;
    }
    let reply = app.get("/users").await;
    let listed = names(&reply);
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0], "root");
    assert_eq!(listed[1], "u00");
    assert_eq!(listed[19], "u18");
    assert_eq!(total(&reply), 25);
}

#[tokio::test]
async fn limit_and_offset_page_through() {
    let Some(app) = seven_users().await else { return };
    assert_eq!(names(&app.get("/users?limit=3&offset=0").await), ["root", "user0", "user1"]);
    assert_eq!(names(&app.get("/users?limit=3&offset=3").await), ["user2", "user3", "user4"]);
    assert_eq!(names(&app.get("/users?limit=3&offset=6").await), ["user5"]);
    assert!(names(&app.get("/users?offset=7").await).is_empty());
    assert_eq!(names(&app.get("/users?limit=1").await), ["root"]);
    assert_eq!(names(&app.get("/users?limit=100").await).len(), 7);
}

#[tokio::test]
async fn link_header_on_first_middle_and_last_page() {
    let Some(app) = seven_users().await else { return };
    let first = app.get("/users?limit=3").await;
    assert_eq!(total(&first), 7);
    assert_eq!(
        first.header("link").as_deref(),
        Some(concat!(
            r#"</users?limit=3&offset=0>; rel="first", </users?limit=3&offset=3>; rel="next", "#,
            r#"</users?limit=3&offset=6>; rel="last""#
        ))
    );
    let middle = app.get("/users?limit=3&offset=2").await;
    assert_eq!(
        middle.header("link").as_deref(),
        Some(concat!(
            r#"</users?limit=3&offset=0>; rel="first", </users?limit=3&offset=0>; rel="prev", "#,
            r#"</users?limit=3&offset=5>; rel="next", </users?limit=3&offset=6>; rel="last""#
        ))
    );
    let last = app.get("/users?limit=3&offset=6").await;
    assert_eq!(
        last.header("link").as_deref(),
        Some(concat!(
            r#"</users?limit=3&offset=0>; rel="first", </users?limit=3&offset=3>; rel="prev", "#,
            r#"</users?limit=3&offset=6>; rel="last""#
        ))
    );
}

#[tokio::test]
async fn links_keep_filters_sort_and_the_api_prefix() {
    let Some(app) = seven_users().await else { return };
    let reply = app.get("/api/users/?q=user&sort=-username&limit=5").await;
    assert_eq!(total(&reply), 6);
    assert_eq!(
        reply.header("link").as_deref(),
        Some(concat!(
            r#"</api/users?limit=5&offset=0&q=user&sort=-username>; rel="first", "#,
            r#"</api/users?limit=5&offset=5&q=user&sort=-username>; rel="next", "#,
            r#"</api/users?limit=5&offset=5&q=user&sort=-username>; rel="last""#
        ))
    );
}

#[tokio::test]
async fn no_link_header_when_nothing_matches() {
    let Some(app) = seven_users().await else { return };
    let reply = app.get("/users?q=nobody").await;
    assert!(names(&reply).is_empty());
    assert_eq!(total(&reply), 0);
    assert_eq!(reply.header("link"), None);
}

#[tokio::test]
async fn every_filter_matches_case_insensitively() {
    let Some(app) = spawn_app().await else { return };
    app.create(json!({"username": "Alice", "email": "alice@example.com", "password": "orbit-tulip-1", "name": "Alice Liddell"}))
        .await;
    app.create(json!({"username": "bob", "email": "bob@example.org", "password": "orbit-tulip-1", "role": "admin"})).await;
    app.create(json!({"username": "carol", "email": "carol@example.com", "password": "orbit-tulip-1", "name": "100%_sure"}))
        .await;
    assert_eq!(names(&app.get("/users?username=ALICE").await), ["Alice"]);
    assert!(names(&app.get("/users?username=ali").await).is_empty(), "exact, not a prefix");
    assert_eq!(names(&app.get("/users?email=BOB%40Example.ORG").await), ["bob"]);
    assert_eq!(names(&app.get("/users?role=admin").await), ["root", "bob"]);
    assert_eq!(names(&app.get("/users?role=user").await), ["Alice", "carol"]);
    assert_eq!(names(&app.get("/users?q=LIDDELL").await), ["Alice"], "name");
    assert_eq!(names(&app.get("/users?q=.ORG").await), ["bob"], "email");
    assert_eq!(names(&app.get("/users?q=aro").await), ["carol"], "username");
    assert_eq!(names(&app.get("/users?q=0%25_").await), ["carol"], "% and _ are literal");
    assert!(names(&app.get("/users?q=_s_").await).is_empty(), "_ is no wildcard");
    assert_eq!(names(&app.get("/users?q=example.com&role=user&username=carol").await), ["carol"], "all at once");
}

#[tokio::test]
async fn every_sort_key_both_ways_with_ties_by_id() {
    let Some(app) = spawn_app().await else { return };
    // ids 2..5 after root; usernames (compared case-insensitively) and emails in other orders than ids. The
    // listing is filtered to role=user, leaving root out.
    for (username, email) in
        [("bob", "z@example.com"), ("amy", "y@example.com"), ("Bob_", "x@example.com"), ("cat", "w@example.com")]
    {
        app.create(json!({"username": username, "email": email, "password": "orbit-tulip-1"})).await;
    }
    let sorted = |sort: &str| format!("/users?role=user&sort={sort}");
    assert_eq!(names(&app.get(&sorted("id")).await), ["bob", "amy", "Bob_", "cat"]);
    assert_eq!(names(&app.get(&sorted("-id")).await), ["cat", "Bob_", "amy", "bob"]);
    assert_eq!(names(&app.get(&sorted("username")).await), ["amy", "bob", "Bob_", "cat"]);
    assert_eq!(names(&app.get(&sorted("-username")).await), ["cat", "Bob_", "bob", "amy"]);
    assert_eq!(names(&app.get(&sorted("email")).await), ["cat", "Bob_", "amy", "bob"]);
    assert_eq!(names(&app.get(&sorted("-email")).await), ["bob", "amy", "Bob_", "cat"]);
    assert_eq!(names(&app.get(&sorted("created_at")).await), ["bob", "amy", "Bob_", "cat"]);
    assert_eq!(names(&app.get(&sorted("-created_at")).await), ["cat", "Bob_", "amy", "bob"]);
    // Touch "amy": it becomes the most recently updated.
    let amy = &app.get("/users?username=amy").await.json()[0];
    app.patch(&format!("/users/{}", amy["id"]), &json!({"age": 9})).await;
    assert_eq!(names(&app.get(&sorted("updated_at")).await), ["bob", "Bob_", "cat", "amy"]);
    assert_eq!(names(&app.get(&sorted("-updated_at")).await), ["amy", "cat", "Bob_", "bob"]);
}

#[tokio::test]
async fn username_sort_ignores_case() {
    let Some(app) = spawn_app().await else { return };
    for name in ["sam2", "SAM3", "Sam"] {
        app.create_user(name).await;
    }
    assert_eq!(names(&app.get("/users?role=user&sort=username").await), ["Sam", "sam2", "SAM3"]);
    assert_eq!(names(&app.get("/users?role=user&sort=-username").await), ["SAM3", "sam2", "Sam"]);
}
