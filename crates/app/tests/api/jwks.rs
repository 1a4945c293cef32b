//! Tokens other services verify (docs/api.md §8): the JWKS route, and EdDSA tokens checked by a verifier that knows
//! nothing of this service but the served key set (jsonwebtoken's `JwkSet` and `DecodingKey::from_jwk`).

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A keys folder of the test's own, removed at the end.
struct KeysFolder(PathBuf);

impl KeysFolder {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("users-api-jwks-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        Self(std::env::temp_dir().join(name))
    }

    /// A new key, written as `users-api generate-key` writes it: its private key, read back from the PEM file.
    fn generate(&self) -> EncodingKey {
        let (file, _) = users_auth::generate_key_file(&self.0, time::OffsetDateTime::now_utc()).expect("key written");
        private_key(&file)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for KeysFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn private_key(pem_file: &Path) -> EncodingKey {
    let pem = std::fs::read_to_string(pem_file).expect("PEM");
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    EncodingKey::from_ed_der(&STANDARD.decode(body).expect("base64"))
}

async fn spawn_eddsa(keys: &KeysFolder) -> TestApp {
    let settings = [("APP__AUTH__SIGNING__ALGORITHM", "EdDSA"), ("APP__AUTH__SIGNING__KEYS_DIR", keys.path())];
    spawn_app_with(|url| url, &settings).await.expect("app")
}

/// Verifies `token` as a consuming service would: the key its `kid` names in the served set, EdDSA, our issuer and
/// audience. Returns the claims.
fn verify_with(jwks: &JwkSet, token: &str) -> Result<Value, String> {
    let kid = decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["users-api"]);
    validation.set_audience(&["users-api"]);
    decode::<Value>(token, &key, &validation).map(|data| data.claims).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_jwks_route_is_404_under_hs256() {
    let Some(app) = spawn_app().await else { return };
    for path in ["/.well-known/jwks.json", "/api/.well-known/jwks.json"] {
        app.anonymous().get(path).await.problem(404, "not-found");
    }
}

#[tokio::test]
async fn under_eddsa_tokens_verify_with_nothing_but_the_served_jwks() {
    let keys = KeysFolder::new();
    keys.generate();
    let app = spawn_eddsa(&keys).await;
    let reply = app.anonymous().get("/.well-known/jwks.json").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control").as_deref(), Some("public, max-age=300"));
    assert!(reply.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let served = reply.json();
    let key = &served["keys"][0];
    assert_eq!((&key["kty"], &key["crv"], &key["alg"], &key["use"]), (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"), &json!("sig")));
    assert!(key.get("d").is_none(), "no private part is served: {served}");
    assert_eq!(app.anonymous().get("/api/.well-known/jwks.json").await.json(), served, "under /api too");
    let jwks: JwkSet = serde_json::from_value(served.clone()).expect("a JWK Set");
    assert_eq!(jwks.keys.len(), 1);

    let token = app.token.clone().expect("admin token");
    let header = decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    // The kid is the RFC 7638 thumbprint of the served key, as any JOSE library computes it.
    let thumbprint = jwks.keys[0].thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).expect("thumbprint");
    assert_eq!(header.kid.as_deref(), Some(thumbprint.as_str()));
    let claims = verify_with(&jwks, &token).expect("verifies with the JWKS alone");
    let me = app.get("/users/me").await.json();
    assert_eq!(claims["sub"], me["id"].to_string());
    assert_eq!(claims["role"], "admin");
}

#[tokio::test]
async fn under_eddsa_an_unknown_kid_another_algorithm_or_a_key_of_the_token_s_own_is_401() {
    let keys = KeysFolder::new();
    let ours = keys.generate();
    let app = spawn_eddsa(&keys).await;
    let token = app.token.clone().expect("admin token");
    let kid = decode_header(&token).expect("header").kid.expect("kid");
    let claims = {
        let [_, claims, _]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().expect("three parts");
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("claims")
    };
    let eddsa = |kid: &str| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header
    };
    assert_eq!(app.with_token(&encode(&eddsa(&kid), &claims, &ours).expect("signed")).get("/users/me").await.status, 200, "the forging is sound");
    let stranger = KeysFolder::new();
    let stranger_key = stranger.generate();
    let mut jku = eddsa(&kid);
    jku.jku = Some("https://keys.example/jwks.json".to_owned());
    let mut x5u = eddsa(&kid);
    x5u.x5u = Some("https://keys.example/cert.pem".to_owned());
    let secret = EncodingKey::from_secret(b"a test secret of at least thirty-two bytes");
    let refused = [
        ("unknown kid", encode(&eddsa("not-a-key-of-ours"), &claims, &stranger_key)),
        ("our kid, another key", encode(&eddsa(&kid), &claims, &stranger_key)),
        ("HS256 with the JWT secret", encode(&Header::new(Algorithm::HS256), &claims, &secret)),
        ("jku", encode(&jku, &claims, &ours)),
        ("x5u", encode(&x5u, &claims, &ours)),
    ];
    for (what, forged) in refused {
        let reply = app.with_token(&forged.expect("signed")).get("/users/me").await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
    }
}

#[tokio::test]
async fn the_key_set_may_be_cached_as_long_as_a_new_key_waits_before_it_signs() {
    let keys = KeysFolder::new();
    keys.generate();
    let settings = [
        ("APP__AUTH__SIGNING__ALGORITHM", "EdDSA"),
        ("APP__AUTH__SIGNING__KEYS_DIR", keys.path()),
        ("APP__AUTH__SIGNING__PUBLISH_DELAY_SECS", "60"),
    ];
    let app = spawn_app_with(|url| url, &settings).await.expect("app");
    let reply = app.anonymous().get("/.well-known/jwks.json").await;
    assert_eq!(reply.header("cache-control").as_deref(), Some("public, max-age=60"));
}
