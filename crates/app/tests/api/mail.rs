//! Mail flows (docs/api.md §7) with the file transport: each test reads the `.eml` files the service writes into a
//! folder of its own. Password reset, email verification and its resend, the verified-email login rule, every bad
//! token, the address limit, and the routes' 404 with mail off.

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LINK_BASE: &str = "http://localhost:3000/account";

/// A mail folder removed when the test ends.
struct MailDir(PathBuf);

impl MailDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("users-api-mail-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        Self(std::env::temp_dir().join(name))
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }

    /// Every complete mail so far, oldest first.
    fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.0) else { return Vec::new() };
        let mut paths: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| has_eml_extension(p)).collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read_to_string(p).expect("readable mail")).collect()
    }

    /// The mails to `to` of `kind`.
    fn mails_to(&self, to: &str, kind: &str) -> Vec<String> {
        self.mails().into_iter().filter(|m| is_to(m, to) && header(m, "X-Users-Api-Kind") == Some(kind)).collect()
    }

    /// Waits (up to 10 s) for the `n`th mail to `to` of `kind`; returns its text.
    async fn wait_for(&self, to: &str, kind: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.mails_to(to, kind);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no {kind} mail #{n} to {to}; mails: {:?}", self.mails());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MailDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn has_eml_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "eml")
}

fn header<'m>(mail: &'m str, name: &str) -> Option<&'m str> {
    let prefix = format!("{name}: ");
    mail.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(prefix.as_str()))
}

fn is_to(mail: &str, address: &str) -> bool {
    header(mail, "To").is_some_and(|to| to.contains(address))
}

/// The mail's text as a mail client shows it: the body after the headers, quoted-printable decoded.
fn text_of(mail: &str) -> String {
    let (head, body) = mail.split_once("\r\n\r\n").or_else(|| mail.split_once("\n\n")).expect("headers, body");
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return body.to_owned();
    }
    let bytes = body.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"=\r\n") {
            i += 3;
        } else if rest.starts_with(b"=\n") {
            i += 2;
        } else if let (b'=', Some(hex)) = (rest[0], rest.get(1..3)) {
            let hex = std::str::from_utf8(hex).expect("ASCII");
            decoded.push(u8::from_str_radix(hex, 16).expect("=XX"));
            i += 3;
        } else {
            decoded.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8(decoded).expect("UTF-8 text")
}

/// The token of the mail's link.
fn token_of(mail: &str) -> String {
    let text = text_of(mail);
    let link = format!("{LINK_BASE}?token=");
    let start = text.find(&link).unwrap_or_else(|| panic!("no link in {text}")) + link.len();
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// An app whose mail goes into `dir`, with extra settings.
async fn app_with_mail(dir: &MailDir, extra: &[(&str, &str)]) -> TestApp {
    let path = dir.path();
    let mut settings = vec![
        ("APP__MAIL__TRANSPORT", "file"),
        ("APP__MAIL__DIR", path.as_str()),
        ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
        ("APP__MAIL__LINK_BASE", LINK_BASE),
    ];
    settings.extend_from_slice(extra);
    spawn_app_with(|url| url, &settings).await.expect("app")
}

fn sign_up(username: &str) -> Value {
    json!({"username": username, "email": format!("{username}@example.com"), "password": "orbit-tulip-1"})
}

/// A login's whole reply: both tokens.
async fn login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let reply = app.anonymous().post("/auth/login", &json!({"username": username, "password": password})).await;
    let body = if reply.text.is_empty() { Value::Null } else { reply.json() };
    (reply.status.as_u16(), body)
}

fn assert_invalid_token(reply: &crate::helpers::Reply) {
    let body = reply.problem(400, "invalid-token");
    assert_eq!(body["errors"][0]["field"], "token", "{body}");
}

#[tokio::test]
async fn a_password_reset_sets_the_password_ends_every_session_and_verifies_the_email() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    let alice = app.create(sign_up("alice")).await;
    let (_, session) = login(&app, "alice", "orbit-tulip-1").await;
    let anonymous = app.anonymous();
    let requested = anonymous.post("/auth/password-reset", &json!({"email": "ALICE@example.com"})).await;
    assert_eq!((requested.status.as_u16(), requested.text.as_str()), (202, ""));
    let mail = dir.wait_for("alice@example.com", "password-reset", 1).await;
    assert_eq!(header(&mail, "Subject"), Some("Reset your password"));
    let token = token_of(&mail);
    assert!(token.len() >= 43, "at least 256 bits: {token}");

    // A refused password keeps the token usable.
    let weak = anonymous.post("/auth/password-reset/confirm", &json!({"token": token, "password": "password123"})).await;
    weak.invalid_fields(&["password"]);
    let confirm = json!({"token": token, "password": "a brand new passphrase"});
    let confirmed = anonymous.post("/auth/password-reset/confirm", &confirm).await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.text);

    // Every session ended: the access token and the refresh token of the login before.
    let access = session["access_token"].as_str().expect("token");
    app.with_token(access).get("/users/me").await.problem(401, "unauthorized");
    let refresh = anonymous.post("/auth/refresh", &json!({"refresh_token": session["refresh_token"]})).await;
    refresh.problem(401, "unauthorized");
    assert_eq!(login(&app, "alice", "orbit-tulip-1").await.0, 401, "the old password is gone");
    assert_eq!(login(&app, "alice", "a brand new passphrase").await.0, 200);
    let read = app.get(&format!("/users/{}", alice["id"])).await.json();
    assert_eq!(read["email_verified"], true, "the reset proved the address");
    // Single use.
    assert_invalid_token(&anonymous.post("/auth/password-reset/confirm", &confirm).await);
}

#[tokio::test]
async fn a_reset_clears_the_lockout() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    app.create(sign_up("bob")).await;
    for _ in 0..5 {
        login(&app, "bob", "wrong password").await;
    }
    assert_eq!(login(&app, "bob", "orbit-tulip-1").await.0, 429, "locked");
    app.anonymous().post("/auth/password-reset", &json!({"email": "bob@example.com"})).await;
    let token = token_of(&dir.wait_for("bob@example.com", "password-reset", 1).await);
    let confirm = json!({"token": token, "password": "a brand new passphrase"});
    let confirmed = app.anonymous().post("/auth/password-reset/confirm", &confirm).await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.text);
    assert_eq!(login(&app, "bob", "a brand new passphrase").await.0, 200, "the lockout is cleared");
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_202_and_no_mail_and_an_address_gets_at_most_3_mails_an_hour() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    app.create(sign_up("carol")).await;
    let anonymous = app.anonymous();
    let unknown = anonymous.post("/auth/password-reset", &json!({"email": "nobody@example.com"})).await;
    assert_eq!((unknown.status.as_u16(), unknown.text.as_str()), (202, ""));
    for _ in 0..4 {
        let reply = anonymous.post("/auth/password-reset", &json!({"email": "carol@example.com"})).await;
        assert_eq!(reply.status, 202);
    }
    // The sign-up's verification mail counts: 3 mails in all reach the address.
    dir.wait_for("carol@example.com", "password-reset", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dir.mails_to("carol@example.com", "password-reset").len(), 2, "the limit holds the others back");
    assert_eq!(dir.mails().iter().filter(|m| is_to(m, "carol@example.com")).count(), 3);
    assert!(dir.mails().iter().all(|m| !is_to(m, "nobody@example.com")));
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("mails_total{outcome=\"sent\"}"), "{metrics}");
    assert!(metrics.contains("mails_total{outcome=\"queued\"} 2"), "{metrics}");
}

#[tokio::test]
async fn bad_tokens_and_bodies_are_refused_and_change_nothing() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    app.create(sign_up("dave")).await;
    let anonymous = app.anonymous();
    let password = "a brand new passphrase";
    let unknown = json!({"token": "A".repeat(43), "password": password});
    assert_invalid_token(&anonymous.post("/auth/password-reset/confirm", &unknown).await);
    assert_invalid_token(&anonymous.post("/auth/verify-email", &json!({"token": ""})).await);
    anonymous.post("/auth/password-reset/confirm", &json!({"password": password})).await.invalid_fields(&["token"]);
    anonymous.post("/auth/password-reset/confirm", &json!({"token": "x"})).await.invalid_fields(&["password"]);
    anonymous.post("/auth/verify-email", &json!({})).await.invalid_fields(&["token"]);
    anonymous.post("/auth/password-reset", &json!({"email": "not an address"})).await.invalid_fields(&["email"]);
    anonymous.post("/auth/password-reset", &json!({"mail": "dave@example.com"})).await.problem(400, "validation");

    // Wrong kind: the sign-up's verification token does not reset a password, nor a reset token verify.
    let verification = token_of(&dir.wait_for("dave@example.com", "email-verification", 1).await);
    let wrong_kind = json!({"token": verification, "password": password});
    assert_invalid_token(&anonymous.post("/auth/password-reset/confirm", &wrong_kind).await);
    anonymous.post("/auth/password-reset", &json!({"email": "dave@example.com"})).await;
    let reset = token_of(&dir.wait_for("dave@example.com", "password-reset", 1).await);
    assert_invalid_token(&anonymous.post("/auth/verify-email", &json!({"token": reset})).await);
    assert_eq!(login(&app, "dave", "orbit-tulip-1").await.0, 200, "nothing changed");
    // Both tokens still work for their own kind.
    assert_eq!(anonymous.post("/auth/verify-email", &json!({"token": verification})).await.status, 204);
    let confirm = json!({"token": reset, "password": password});
    assert_eq!(anonymous.post("/auth/password-reset/confirm", &confirm).await.status, 204);
}

#[tokio::test]
async fn a_sign_up_is_verified_by_its_mail_and_a_token_for_a_former_address_is_invalid() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    let erin = app.create(sign_up("erin")).await;
    assert_eq!(erin["email_verified"], false);
    let mail = dir.wait_for("erin@example.com", "email-verification", 1).await;
    let token = token_of(&mail);
    let anonymous = app.anonymous();
    assert_eq!(anonymous.post("/auth/verify-email", &json!({"token": token})).await.status, 204);
    let path = format!("/users/{}", erin["id"]);
    assert_eq!(app.get(&path).await.json()["email_verified"], true);
    assert_invalid_token(&anonymous.post("/auth/verify-email", &json!({"token": token})).await);
    // A resend for a verified address sends nothing.
    let resend = anonymous.post("/auth/verify-email/resend", &json!({"email": "erin@example.com"})).await;
    assert_eq!(resend.status, 202);

    // A second user's verification mail, then their address changes: that token is for an address they no
    // longer have.
    let frank = app.create(sign_up("frank")).await;
    let old_token = token_of(&dir.wait_for("frank@example.com", "email-verification", 1).await);
    let changed = app.patch(&format!("/users/{}", frank["id"]), &json!({"email": "frank.new@example.com"})).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_invalid_token(&anonymous.post("/auth/verify-email", &json!({"token": old_token})).await);
    assert_eq!(app.get(&format!("/users/{}", frank["id"])).await.json()["email_verified"], false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dir.mails_to("erin@example.com", "email-verification").len(), 1, "no mail for a verified address");
}

#[tokio::test]
async fn with_verified_emails_required_an_unverified_login_is_403_until_verified() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[("APP__AUTH__REQUIRE_VERIFIED_EMAIL", "true")]).await;
    app.create(sign_up("grace")).await;
    assert_eq!(login(&app, "grace", "wrong password").await.0, 401, "a wrong password is still 401");
    let refused = app.anonymous().post("/auth/login", &json!({"username": "grace", "password": "orbit-tulip-1"})).await;
    refused.problem(403, "email-not-verified");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("logins_total{outcome=\"email_not_verified\"} 1"), "{metrics}");
    // The resend route gets a new mail to the user whose login was refused.
    let resend = app.anonymous().post("/auth/verify-email/resend", &json!({"email": "grace@example.com"})).await;
    assert_eq!(resend.status, 202);
    let token = token_of(&dir.wait_for("grace@example.com", "email-verification", 2).await);
    assert_eq!(app.anonymous().post("/auth/verify-email", &json!({"token": token})).await.status, 204);
    assert_eq!(login(&app, "grace", "orbit-tulip-1").await.0, 200);
}

#[tokio::test]
async fn with_mail_off_the_mail_routes_answer_404_and_a_sign_up_sends_nothing() {
    let Some(app) = spawn_app().await else { return };
    let anonymous = app.anonymous();
    let email = json!({"email": "alice@example.com"});
    let token = json!({"token": "x", "password": "a brand new passphrase"});
    for (path, body) in [
        ("/auth/password-reset", &email),
        ("/auth/verify-email/resend", &email),
        ("/auth/password-reset/confirm", &token),
        ("/auth/verify-email", &json!({"token": "x"})),
    ] {
        anonymous.post(path, body).await.problem(404, "not-found");
        // The route is not there: no body shape or type is looked at (docs/api.md §4's order).
        let not_json = anonymous.send(Method::POST, path, Some(("text/plain", b"{".to_vec())), &[]).await;
        not_json.problem(404, "not-found");
        let malformed = anonymous.send(Method::POST, path, Some(("application/json", b"{".to_vec())), &[]).await;
        malformed.problem(404, "not-found");
    }
    // Nor the token: anonymous or not, 404.
    let user = app.create_user("alice").await;
    let path = format!("/users/{}/email-verification", user["id"]);
    anonymous.post(&path, &json!({})).await.problem(404, "not-found");
    app.post(&path, &json!({})).await.problem(404, "not-found");
}

#[tokio::test]
async fn an_admin_invites_a_user_without_a_password_who_sets_one_with_the_invite() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[("APP__AUTH__EXPORT_HASHES", "true")]).await;
    let invited = app.create(json!({"username": "hedy", "email": "hedy@example.com"})).await;
    assert_eq!(invited["email_verified"], false);
    // Anyone else leaving out the password: 400 as before.
    let sign_up = app.anonymous().post("/users", &json!({"username": "ivan", "email": "ivan@example.com"})).await;
    sign_up.invalid_fields(&["password"]);
    let mail = dir.wait_for("hedy@example.com", "invite", 1).await;
    let token = token_of(&mail);
    // Until the invite is confirmed the user has no usable password: an export says so (docs/api.md §9).
    let exported = app.get("/users/export?include_hashes=true&username=hedy").await;
    let line: Value = serde_json::from_str(exported.text.trim()).expect("one NDJSON line");
    assert_eq!(line["password_hash"], Value::Null, "{line}");
    assert!(dir.mails_to("hedy@example.com", "email-verification").is_empty(), "the invite is the only mail");
    let anonymous = app.anonymous();
    let weak = anonymous.post("/auth/password-reset/confirm", &json!({"token": token, "password": "hedy"})).await;
    weak.invalid_fields(&["password"]);
    let confirm = json!({"token": token, "password": "frequency hopping"});
    assert_eq!(anonymous.post("/auth/password-reset/confirm", &confirm).await.status, 204);
    assert_eq!(login(&app, "hedy", "frequency hopping").await.0, 200);
    assert_eq!(app.get(&format!("/users/{}", invited["id"])).await.json()["email_verified"], true);
    assert_invalid_token(&anonymous.post("/auth/password-reset/confirm", &confirm).await);
}

#[tokio::test]
async fn changing_ones_own_email_needs_the_current_password_and_tells_the_old_address() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    let judy = app.create(sign_up("judy")).await;
    let path = format!("/users/{}", judy["id"]);
    let (_, pair) = login(&app, "judy", "orbit-tulip-1").await;
    let own = app.with_token(pair["access_token"].as_str().expect("token"));
    own.patch(&path, &json!({"email": "judy.new@example.com"})).await.invalid_fields(&["current_password"]);
    let wrong = own.patch(&path, &json!({"email": "judy.new@example.com", "current_password": "wrong"})).await;
    wrong.problem(403, "forbidden");
    assert_eq!(app.get(&path).await.json()["email"], "judy@example.com", "nothing changed");
    let body = json!({"email": "judy.new@example.com", "current_password": "orbit-tulip-1"});
    let changed = own.patch(&path, &body).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["email_verified"], false);
    let notice = dir.wait_for("judy@example.com", "email-changed", 1).await;
    assert!(text_of(&notice).contains("changed"), "{notice}");
    assert!(!notice.contains("token="), "a notice carries no token");
    let token = token_of(&dir.wait_for("judy.new@example.com", "email-verification", 1).await);
    assert_eq!(app.anonymous().post("/auth/verify-email", &json!({"token": token})).await.status, 204);
    // Keeping the same address is no change and needs nothing.
    let same = own.patch(&path, &json!({"email": "judy.new@example.com"})).await;
    assert_eq!(same.status, 200, "{}", same.text);
}

#[tokio::test]
async fn a_user_or_an_admin_asks_for_a_verification_mail_and_nobody_else() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    let kate = app.create(sign_up("kate")).await;
    app.create(sign_up("liam")).await;
    let path = format!("/users/{}/email-verification", kate["id"]);
    let (_, liam) = login(&app, "liam", "orbit-tulip-1").await;
    let other = app.with_token(liam["access_token"].as_str().expect("token"));
    other.post(&path, &json!({})).await.problem(403, "forbidden");
    app.anonymous().post(&path, &json!({})).await.problem(401, "unauthorized");
    app.post("/users/999999/email-verification", &json!({})).await.problem(404, "not-found");
    let (_, kate_pair) = login(&app, "kate", "orbit-tulip-1").await;
    let own = app.with_token(kate_pair["access_token"].as_str().expect("token"));
    assert_eq!(own.post(&path, &json!({})).await.status, 202);
    assert_eq!(app.post(&path, &json!({})).await.status, 202);
    // The sign-up's mail and the two asked for; each token works until used.
    let first = token_of(&dir.wait_for("kate@example.com", "email-verification", 1).await);
    dir.wait_for("kate@example.com", "email-verification", 3).await;
    assert_eq!(app.anonymous().post("/auth/verify-email", &json!({"token": first})).await.status, 204);
}

#[tokio::test]
async fn a_mail_that_fails_is_retried_and_the_request_never_fails() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    app.create(sign_up("mona")).await;
    dir.wait_for("mona@example.com", "email-verification", 1).await;
    // The folder becomes a file: every write fails (a transient failure) until it is back.
    let aside = dir.0.with_extension("aside");
    std::fs::rename(&dir.0, &aside).expect("moved aside");
    std::fs::write(&dir.0, b"not a folder").expect("file in its place");
    let requested = app.anonymous().post("/auth/password-reset", &json!({"email": "mona@example.com"})).await;
    assert_eq!(requested.status, 202, "the request does not fail with the mail");
    let deferred = Instant::now() + Duration::from_secs(5);
    while !app.get("/metrics").await.text.contains("mails_total{outcome=\"deferred\"} 1") {
        assert!(Instant::now() < deferred, "the failed attempt is counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::remove_file(&dir.0).expect("file removed");
    std::fs::rename(&aside, &dir.0).expect("folder back");
    let token = token_of(&dir.wait_for("mona@example.com", "password-reset", 1).await);
    let confirm = json!({"token": token, "password": "a brand new passphrase"});
    assert_eq!(app.anonymous().post("/auth/password-reset/confirm", &confirm).await.status, 204, "sent on a retry");
}

#[tokio::test]
async fn an_expired_reset_or_verification_token_is_invalid_and_changes_nothing() {
    // The shortest lifetimes the settings take (60 s): the test waits them out, beside the others.
    let dir = MailDir::new();
    let ttls = [("APP__AUTH__RESET_TOKEN_TTL_SECS", "60"), ("APP__AUTH__VERIFICATION_TOKEN_TTL_SECS", "60")];
    let app = app_with_mail(&dir, &ttls).await;
    let user = app.create(sign_up("erin")).await;
    let anonymous = app.anonymous();
    anonymous.post("/auth/password-reset", &json!({"email": "erin@example.com"})).await;
    let reset = token_of(&dir.wait_for("erin@example.com", "password-reset", 1).await);
    let verification = token_of(&dir.wait_for("erin@example.com", "email-verification", 1).await);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let confirm = json!({"token": reset, "password": "a brand new passphrase"});
    assert_invalid_token(&anonymous.post("/auth/password-reset/confirm", &confirm).await);
    assert_invalid_token(&anonymous.post("/auth/verify-email", &json!({"token": verification})).await);
    assert_eq!(login(&app, "erin", "orbit-tulip-1").await.0, 200, "the password is unchanged");
    let stored = app.get(&format!("/users/{}", user["id"])).await.json();
    assert_eq!(stored["email_verified"], false, "still unverified");
}

/// An admin moves the user to a new address while the user's token for the old one is being used. Whatever the
/// interleaving, the new address is never marked verified (nobody proved it) and an invite's password is set only
/// if it landed before the move: a token acts for its address only.
#[tokio::test]
async fn a_token_used_while_the_email_changes_never_verifies_the_new_address() {
    let dir = MailDir::new();
    let app = app_with_mail(&dir, &[]).await;
    let anonymous = app.anonymous();
    for round in 0..12 {
        // Even rounds race an email verification (a sign-up's mail), odd ones an invite's password (a reset's
        // path, behind a bcrypt that widens the window).
        let (username, kind) = if round % 2 == 0 { ("verify", "email-verification") } else { ("invite", "invite") };
        let username = format!("{username}{round}");
        let address = format!("{username}@example.com");
        let user = if round % 2 == 0 {
            app.create(sign_up(&username)).await
        } else {
            app.create(json!({"username": username, "email": address})).await
        };
        let token = token_of(&dir.wait_for(&address, kind, 1).await);
        let path = format!("/users/{}", user["id"]);
        let moved_to = format!("{username}.new@example.com");
        let (route, use_token) = if round % 2 == 0 {
            ("/auth/verify-email", json!({"token": token}))
        } else {
            ("/auth/password-reset/confirm", json!({"token": token, "password": "sea-otter-42"}))
        };
        let move_email = json!({"email": moved_to});
        let (used, moved) = tokio::join!(anonymous.post(route, &use_token), app.patch(&path, &move_email));
        assert_eq!(moved.status, 200, "round {round}: {}", moved.text);
        if used.status != 204 {
            assert_invalid_token(&used); // the move came first: nothing else may refuse it
        }
        let read = app.get(&path).await.json();
        assert_eq!(read["email"], moved_to.as_str(), "round {round}");
        assert_eq!(read["email_verified"], false, "round {round}: the new address was never proved: {read}");
        if round % 2 == 1 {
            let logged_in = login(&app, &username, "sea-otter-42").await.0;
            assert_eq!(logged_in == 200, used.status == 204, "round {round}: the password is set iff the reset said so");
        }
    }
}
