//! The request id of docs/api.md §5: the client's own `X-Request-Id` when it is 1–128 characters of
//! `A-Z a-z 0-9 . _ -`, else a new UUID. It is in scope (a task-local) while the request is handled, so error
//! bodies and log lines carry it without threading it through every call.

use futures_util::Stream;
use std::future::Future;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The client's id if acceptable, else a fresh UUID.
pub fn accept_or_generate(client_value: Option<&[u8]>) -> String {
    match client_value {
        Some(v)
            if (1..=128).contains(&v.len())
                && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            // Only ASCII is left.
            String::from_utf8_lossy(v).into_owned()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

pub async fn with_request_id<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The id of the request being handled, on its task; `None` elsewhere.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `work` with this request's id and tracing span, for work spawned to run after the response: its log lines are
/// still the request's.
pub fn within_this_request<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let id = current_request_id();
    let work = work.in_current_span();
    async move {
        match id {
            Some(id) => with_request_id(id, work).await,
            None => work.await,
        }
    }
}

/// `stream` polled with this request's id and tracing span: a streamed body (import, export) is read after the
/// handler has returned, so its log lines are still the request's.
pub fn stream_within_this_request<S: Stream + 'static>(stream: S) -> impl Stream<Item = S::Item> {
    let id = current_request_id();
    let span = tracing::Span::current();
    let mut stream = Box::pin(stream);
    futures_util::stream::poll_fn(move |cx| {
        let _in_span = span.enter();
        match &id {
            Some(id) => REQUEST_ID.sync_scope(id.clone(), || stream.as_mut().poll_next(cx)),
            None => stream.as_mut().poll_next(cx),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_well_formed_client_id_and_replaces_others() {
        assert_eq!(accept_or_generate(Some(b"abc-1.2_3")), "abc-1.2_3");
        let longest = "a".repeat(128);
        assert_eq!(accept_or_generate(Some(longest.as_bytes())), longest);
        for bad in [&b""[..], b"has space", b"semi;colon", "é".as_bytes(), "a".repeat(129).as_bytes()] {
            let generated = accept_or_generate(Some(bad));
            assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{bad:?} replaced by a UUID");
        }
        assert!(uuid::Uuid::parse_str(&accept_or_generate(None)).is_ok());
    }
}
