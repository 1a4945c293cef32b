//! Issue "Trust", what only the real binary shows: an empty JWT secret counts as missing, and a client's malformed
//! request is logged at warn, not error.

mod process_support;

use process_support::{assert_fatal_naming, http, login, run, start, stop, TempFolder, ADMIN, MEMORY};
use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn production_refuses_an_empty_or_whitespace_jwt_secret() {
    let folder = TempFolder::new("trust-empty-secret");
    for secret in ["", "   ", " \t "] {
        let env = [("APP_ENV", "production"), MEMORY, ("APP__AUTH__JWT_SECRET", secret)];
        assert_fatal_naming(&run(&folder, &env, &[], None), "APP__AUTH__JWT_SECRET");
    }
}

#[test]
fn a_body_timeout_outside_1_to_3600_seconds_is_fatal() {
    let folder = TempFolder::new("trust-body-timeout");
    for secs in ["0", "86400", "soon"] {
        let env = [MEMORY, ("APP__SERVER__BODY_TIMEOUT_SECS", secs)];
        assert_fatal_naming(&run(&folder, &env, &[], None), "APP__SERVER__BODY_TIMEOUT_SECS");
    }
}

/// `token` with its signature replaced by one made with `key`.
fn resigned(token: &str, key: &[u8]) -> String {
    let signing_input = token.rsplit_once('.').expect("a JWT").0;
    let key = jsonwebtoken::EncodingKey::from_secret(key);
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).expect("signed");
    format!("{signing_input}.{signature}")
}

#[test]
fn under_development_an_empty_secret_is_replaced_so_tokens_signed_with_it_are_refused() {
    let folder = TempFolder::new("trust-dev-secret");
    // The forging is sound: under development a weak secret is used as it is, and a token it signs works.
    let weak = [MEMORY, ADMIN[0], ADMIN[1], ADMIN[2], ("APP__AUTH__JWT_SECRET", "weak")];
    let (child, port, _) = start(&folder, &weak);
    let token = login(port, "root", "root password");
    assert_eq!(http(port, "GET", "/users/me", "", Some(&resigned(&token, b"weak"))).0, 200);
    stop(child);
    for secret in ["", "  "] {
        let env = [MEMORY, ADMIN[0], ADMIN[1], ADMIN[2], ("APP__AUTH__JWT_SECRET", secret)];
        let (child, port, log) = start(&folder, &env);
        let token = login(port, "root", "root password");
        assert_eq!(http(port, "GET", "/users/me", "", Some(&token)).0, 200, "its own tokens work");
        let forged = resigned(&token, secret.as_bytes());
        assert_eq!(http(port, "GET", "/users/me", "", Some(&forged)).0, 401, "secret {secret:?} is not the key");
        stop(child);
        let log = log.lock().expect("lock").clone();
        assert!(log.contains("APP__AUTH__JWT_SECRET is not set"), "warned as missing: {log}");
    }
}

/// Sends `raw` as it is and returns the status of the answer.
fn raw_request(port: u16, raw: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.write_all(raw).expect("written");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).get(9..12).and_then(|s| s.parse().ok()).expect("status line")
}

#[test]
fn a_clients_malformed_request_is_logged_at_warn_not_error() {
    let folder = TempFolder::new("trust-client-errors");
    let (child, port, log) = start(&folder, &[MEMORY, ("APP__LOG__FORMAT", "json")]);
    assert_eq!(raw_request(port, b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"), 400);
    let mut huge = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 256 * 1024));
    huge.extend(b"\r\n\r\n");
    assert_eq!(raw_request(port, &huge), 431);
    assert_eq!(http(port, "GET", "/health", "", None).0, 200, "still serving");
    stop(child);
    let log = log.lock().expect("lock").clone();
    let parse_errors: Vec<&str> = log.lines().filter(|l| l.contains("request parse error")).collect();
    assert_eq!(parse_errors.len(), 2, "both logged: {log}");
    assert!(parse_errors.iter().all(|l| l.contains(r#""level":"WARN""#)), "{parse_errors:?}");
    assert!(!log.contains(r#""level":"ERROR""#), "no error line for a client's mistake: {log}");
}
