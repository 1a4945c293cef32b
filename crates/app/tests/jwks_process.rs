//! EdDSA signing on the real binary (docs/api.md §8): `generate-key`, fatal key settings, and a rotation by SIGHUP
//! checked by a verifier outside the service (jsonwebtoken with nothing but the served JWKS).

mod process_support;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use process_support::{assert_fatal_naming, http, login, run, start, stop, TempFolder, ADMIN, MEMORY};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const EDDSA: (&str, &str) = ("APP__AUTH__SIGNING__ALGORITHM", "EdDSA");
const KEYS_DIR: &str = "APP__AUTH__SIGNING__KEYS_DIR";

/// `users-api generate-key --dir DIR` in `folder`: the file it wrote.
fn generate_key(folder: &TempFolder, dir: &str) -> std::path::PathBuf {
    let output = run(folder, &[], &["generate-key", "--dir", dir], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = stdout.split(" (kid ").next().expect("file").trim();
    folder.0.join(file)
}

fn jwks(port: u16) -> JwkSet {
    let (status, body) = http(port, "GET", "/.well-known/jwks.json", "", None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a JWK Set")
}

fn kid(token: &str) -> String {
    decode_header(token).expect("header").kid.expect("kid")
}

/// As a consuming service verifies: the key the token's kid names in the served set, EdDSA, issuer and audience.
fn verifies_with(jwks: &JwkSet, token: &str) -> bool {
    let Some(jwk) = jwks.find(&kid(token)) else { return false };
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["users-api"]);
    validation.set_audience(&["users-api"]);
    decode::<Value>(token, &key, &validation).is_ok()
}

fn hang_up(child: &std::process::Child) {
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill").success());
}

#[test]
fn generate_key_writes_a_pem_file_named_by_the_utc_time_readable_by_its_owner_only() {
    let folder = TempFolder::new("generate-key");
    let file = generate_key(&folder, "keys");
    let name = file.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
    assert!(
        name.len() == "20261127T101500Z.pem".len() && name.ends_with("Z.pem") && name.as_bytes()[8] == b'T',
        "{name}"
    );
    let pem = std::fs::read_to_string(&file).expect("the file it names");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).expect("metadata").permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn under_eddsa_a_missing_or_empty_keys_dir_or_a_bad_key_file_is_fatal_naming_the_setting() {
    let folder = TempFolder::new("eddsa-fatal");
    assert_fatal_naming(&run(&folder, &[MEMORY, EDDSA], &[], None), KEYS_DIR);
    assert_fatal_naming(&run(&folder, &[MEMORY, EDDSA, (KEYS_DIR, "missing")], &[], None), KEYS_DIR);
    std::fs::create_dir_all(folder.0.join("empty")).expect("folder");
    assert_fatal_naming(&run(&folder, &[MEMORY, EDDSA, (KEYS_DIR, "empty")], &[], None), KEYS_DIR);
    std::fs::create_dir_all(folder.0.join("bad")).expect("folder");
    std::fs::write(folder.0.join("bad/20260101T000000Z.pem"), "not a key").expect("written");
    assert_fatal_naming(&run(&folder, &[MEMORY, EDDSA, (KEYS_DIR, "bad")], &[], None), KEYS_DIR);
    let unknown = ("APP__AUTH__SIGNING__ALGORITHM", "RS256");
    assert_fatal_naming(&run(&folder, &[MEMORY, unknown], &[], None), "APP__AUTH__SIGNING__ALGORITHM");
    // The JWT secret stays required under EdDSA (it keys the refresh grace).
    generate_key(&folder, "good");
    let production = [("APP_ENV", "production"), MEMORY, EDDSA, (KEYS_DIR, "good")];
    assert_fatal_naming(&run(&folder, &production, &[], None), "APP__AUTH__JWT_SECRET");
}

#[test]
fn a_rotation_by_sighup_publishes_the_new_key_at_once_signs_after_the_delay_and_keeps_older_tokens() {
    const DELAY_SECS: u64 = 6;
    let folder = TempFolder::new("rotation");
    let first_key = generate_key(&folder, "keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&first_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let delay = DELAY_SECS.to_string();
    let mut env = vec![MEMORY, EDDSA, (KEYS_DIR, "keys"), ("APP__AUTH__SIGNING__PUBLISH_DELAY_SECS", delay.as_str())];
    env.extend(ADMIN);
    let (child, port, log) = start(&folder, &env);

    let before = login(port, "root", "root password");
    let first = jwks(port);
    assert_eq!(first.keys.len(), 1);
    assert!(verifies_with(&first, &before), "a token verifies with the served JWKS alone");

    let generated_at = Instant::now();
    let second_key = generate_key(&folder, "keys");
    hang_up(&child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while jwks(port).keys.len() < 2 {
        assert!(Instant::now() < deadline, "the new key is published after SIGHUP");
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = login(port, "root", "root password");
    assert!(generated_at.elapsed() < Duration::from_secs(DELAY_SECS - 1), "the test ran too slowly to tell");
    assert_eq!(kid(&during), kid(&before), "the new key does not sign before the delay");

    // A bad file on a later reload keeps the keys in use.
    std::fs::write(folder.0.join("keys/20200101T000000Z.pem"), "not a key").expect("written");
    hang_up(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(jwks(port).keys.len(), 2, "the keys in use stay");

    std::thread::sleep((Duration::from_secs(DELAY_SECS + 1)).saturating_sub(generated_at.elapsed()));
    let after = login(port, "root", "root password");
    assert_ne!(kid(&after), kid(&before), "the new key signs after the delay");
    let rotated = jwks(port);
    for token in [&before, &during, &after] {
        assert!(verifies_with(&rotated, token), "every token verifies with the served JWKS");
        assert_eq!(http(port, "GET", "/users/me", "", Some(token)).0, 200, "and with the service");
    }
    stop(child);

    let log = log.lock().expect("lock").clone();
    assert!(log.contains("readable by others"), "a key file others can read is a warning: {log}");
    assert!(log.contains("not reloaded"), "a bad reload is logged: {log}");
    for key in [first_key, second_key] {
        let pem = std::fs::read_to_string(key).expect("key");
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        assert!(!log.contains(&body) && !log.contains("PRIVATE KEY"), "no private key in the log");
    }
}

#[test]
fn under_hs256_a_sighup_is_logged_and_the_service_keeps_serving() {
    let folder = TempFolder::new("hs256-sighup");
    let (child, port, log) = start(&folder, &[MEMORY]);
    hang_up(&child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log.lock().expect("lock").contains("nothing to reload") {
        assert!(Instant::now() < deadline, "the SIGHUP is logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(http(port, "GET", "/health", "", None).0, 200, "still serving");
    assert_eq!(http(port, "GET", "/.well-known/jwks.json", "", None).0, 404, "no key set under HS256");
    stop(child);
}
