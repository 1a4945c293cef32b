//! The Have I Been Pwned adapter against a fake range API on loopback: what it asks, how it reads the answer, and
//! that it gives up in time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use users_auth::HibpRangeApi;
use users_domain::ports::{BreachCheckError, BreachedPasswords};
use users_domain::Password;

/// How the fake answers every request.
#[derive(Clone)]
enum Answer {
    Ok(&'static str),
    Status(u16),
    /// Accepts the connection, reads the request, never answers.
    Stall,
}

/// A fake range API; `requests` collects each request's head.
struct FakeRangeApi {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn fake_range_api(answer: Answer) -> FakeRangeApi {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!("http://{}/range/", listener.local_addr().expect("address"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let (answer, seen) = (answer.clone(), seen.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock().expect("lock").push(String::from_utf8_lossy(&head).into_owned());
                let (status, body) = match answer {
                    Answer::Ok(body) => (200, body),
                    Answer::Status(status) => (status, "oops"),
                    Answer::Stall => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    FakeRangeApi { url, requests }
}

// SHA-1("password") = 5BAA6 1E4C9B93F3F0682250B6CF8331B7EE68FD8
const PASSWORD_SUFFIX_LISTED: &str = "0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:9545824\r\nFFFFF45C4D1DEF81644B54AB7F969B88D65:0";

fn password(s: &str) -> Password {
    Password::parse(s).expect("valid")
}

#[tokio::test]
async fn a_listed_suffix_is_breached_and_only_the_prefix_is_sent() {
    let fake = fake_range_api(Answer::Ok(PASSWORD_SUFFIX_LISTED)).await;
    let api = HibpRangeApi::new(&fake.url, Duration::from_secs(2)).expect("client");
    assert!(api.is_breached(&password("password")).await.expect("answered"));
    // Another password under the same fake answer: its suffix is not listed.
    assert!(!api.is_breached(&password("tulip-orbit-42")).await.expect("answered"));
    let requests = fake.requests.lock().expect("lock").clone();
    assert!(requests[0].starts_with("GET /range/5BAA6 HTTP/1.1\r\n"), "{}", requests[0]);
    assert!(requests[0].to_ascii_lowercase().contains("add-padding: true"), "{}", requests[0]);
    for request in &requests {
        assert!(!request.contains("1E4C9B93F3F0682250B6CF8331B7EE68FD8") && !request.contains("password"), "{request}");
    }
}

#[tokio::test]
async fn an_error_status_or_a_garbled_answer_is_no_answer() {
    let fake = fake_range_api(Answer::Status(503)).await;
    let api = HibpRangeApi::new(&fake.url, Duration::from_secs(2)).expect("client");
    let error = api.is_breached(&password("password")).await.expect_err("no answer");
    assert!(matches!(error, BreachCheckError::Unavailable(_)), "{error:?}");
    let fake = fake_range_api(Answer::Ok("<html>not a range</html>")).await;
    let api = HibpRangeApi::new(&fake.url, Duration::from_secs(2)).expect("client");
    assert!(api.is_breached(&password("password")).await.is_err());
}

#[tokio::test]
async fn a_stalled_api_is_given_up_on_within_the_timeout_and_the_error_shows_no_hash() {
    let fake = fake_range_api(Answer::Stall).await;
    let api = HibpRangeApi::new(&fake.url, Duration::from_secs(2)).expect("client");
    let started = Instant::now();
    let error = api.is_breached(&password("password")).await.expect_err("timed out");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4), "{waited:?}");
    assert!(matches!(error, BreachCheckError::Unavailable(_)), "{error:?}");
    let shown = format!("{:#}", anyhow::Error::from(error));
    assert!(!shown.contains("5BAA6") && !shown.contains("1E4C9B"), "{shown}");
}

#[tokio::test]
async fn nothing_listening_is_no_answer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let url = format!("http://{}/range/", listener.local_addr().expect("address"));
    drop(listener);
    let api = HibpRangeApi::new(&url, Duration::from_secs(2)).expect("client");
    assert!(matches!(api.is_breached(&password("password")).await, Err(BreachCheckError::Unavailable(_))));
}
