//! Logs: `tracing` to stderr, readable (`pretty`) or one JSON object a line (`json`); `RUST_LOG` filters
//! (default `info`). Colours only on a terminal: a file, a pipe or a log collector gets plain text. Every line
//! written while a request is handled carries its request id, whatever the level: the request's span is at `info`,
//! so the id is also added from the request's task where that span is filtered out (`RUST_LOG=warn`), at no cost
//! to a request that logs nothing.

use crate::settings::LogFormat;
use std::io::IsTerminal;
use tracing::callsite::{Callsite, Identifier};
use tracing::field::{Field, FieldSet, Visit};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};
use users_http::current_request_id;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests that start several apps in one process) keeps the first subscriber.
    let _ = subscriber(format, filter, std::io::stderr, std::io::stderr().is_terminal()).try_init();
}

/// The service's logging, writing lines to `writer`.
fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let output = match format {
        LogFormat::Pretty => fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .event_format(RequestIdWithoutItsSpan(fmt::format().with_ansi(ansi)))
            .boxed(),
        // tracing-subscriber's JSON shape (event fields at the top, the current span, the span list), from
        // json-subscriber, which keeps each span's fields serialized: tracing-subscriber's own JSON layer parses
        // them again at every event (docs/benchmarks.md, "A faster machine, and what a log line per request
        // costs"). Its own write errors go to stderr, as tracing-subscriber's did. `request_id` at the top level on
        // every line of a request, so one key finds them at any level.
        LogFormat::Json => {
            let mut layer = json_subscriber::fmt::layer()
                .with_writer(writer)
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .log_internal_errors(true);
            // A line never has a `request_id` field of its own (one would be written twice: json-subscriber does
            // not merge keys). Lines written on another thread (sqlx's SQLite worker) take it from the span.
            layer.inner_layer_mut().add_dynamic_field("request_id", |event, ctx| {
                current_request_id().or_else(|| ctx.event_scope(event).and_then(request_id_of_scope))
            });
            layer.boxed()
        }
    };
    tracing_subscriber::registry().with(filter).with(RequestSpanIds).with(ClientErrorsAsWarnings(output))
}

/// The name of the span of crates/http/src/middleware.rs (target `users_http::…`) that each request is handled in.
const REQUEST_SPAN: &str = "request";

/// The id of a request span, kept in the span's extensions by [`RequestSpanIds`].
struct RequestSpanId(String);

/// Keeps each request span's `request_id` where a formatter finds it without parsing the span's fields.
struct RequestSpanIds;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RequestSpanIds {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if metadata.name() != REQUEST_SPAN || !metadata.target().starts_with("users_http") {
            return;
        }
        let mut request_id = FieldText::named("request_id");
        attrs.record(&mut request_id);
        if let (Some(span), Some(value)) = (ctx.span(id), request_id.value) {
            span.extensions_mut().insert(RequestSpanId(value));
        }
    }
}

/// The request id of the innermost request span of a scope.
fn request_id_of_scope<S: for<'a> LookupSpan<'a>>(scope: tracing_subscriber::registry::Scope<'_, S>) -> Option<String> {
    scope.into_iter().find_map(|span| span.extensions().get::<RequestSpanId>().map(|id| id.0.clone()))
}

/// Whether a span is the service's request span (the one `RequestSpanIds` keeps an id for).
fn is_request_span<S: for<'a> LookupSpan<'a>>(span: &tracing_subscriber::registry::SpanRef<'_, S>) -> bool {
    span.extensions().get::<RequestSpanId>().is_some()
}

/// The readable format, with ` request_id=…` at the end of a request's line that has no request span to show it.
struct RequestIdWithoutItsSpan<F>(F);

impl<S, N, F> FormatEvent<S, N> for RequestIdWithoutItsSpan<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        // The same test as the JSON format's: a span that `RequestSpanIds` marked.
        let in_request_span = ctx.event_scope().is_some_and(|mut spans| spans.any(|span| is_request_span(&span)));
        let Some(id) = (!in_request_span).then(current_request_id).flatten() else {
            return self.0.format_event(ctx, writer, event);
        };
        // The inner format ends its line; the id goes before that end.
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(writer, "{line} request_id={id}")
    }
}

/// actix-http logs a connection's end at `error` whatever ended it, the client's own malformed request (a bad
/// header, a head too large: 400 and 431) or a client gone mid-request included. Those are the client's errors, not
/// the service's: this layer passes them on at `warn`, so `error` stays for what an operator must act on.
struct ClientErrorsAsWarnings<L>(L);

/// Where actix-http's connection errors come from, and the start of the message of those a client caused.
const DISPATCHER: &str = "actix_http::h1::dispatcher";
const CLIENT_CAUSED: &[&str] = &[
    "stream error: request parse error",
    "stream error: I/O error",
    "stream error: request did not complete within the specified timeout",
    "stream error: connection shutdown timeout",
    "stream error: handler dropped payload before reading EOF",
];

struct ClientErrorCallsite;
static CLIENT_ERROR_CALLSITE: ClientErrorCallsite = ClientErrorCallsite;
static CLIENT_ERROR: Metadata<'static> = Metadata::new(
    "client error",
    DISPATCHER,
    Level::WARN,
    None,
    None,
    None,
    FieldSet::new(&["message"], Identifier(&CLIENT_ERROR_CALLSITE)),
    Kind::EVENT,
);

impl Callsite for ClientErrorCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &CLIENT_ERROR
    }
}

/// One field's value, as text, read off an event or a span.
struct FieldText {
    name: &'static str,
    value: Option<String>,
}

impl FieldText {
    fn named(name: &'static str) -> Self {
        Self { name, value: None }
    }
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.name {
            self.value = Some(format!("{value:?}"));
        }
    }
}

/// The message of an actix-http error event that a client caused, else `None`.
fn client_caused(event: &Event<'_>) -> Option<String> {
    let metadata = event.metadata();
    if *metadata.level() != Level::ERROR || metadata.target() != DISPATCHER {
        return None;
    }
    let mut message = FieldText::named("message");
    event.record(&mut message);
    let message = message.value.unwrap_or_default();
    CLIENT_CAUSED.iter().any(|start| message.starts_with(start)).then_some(message)
}

impl<S, L> Layer<S> for ClientErrorsAsWarnings<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(message) = client_caused(event) else { return self.0.on_event(event, ctx) };
        let message = format_args!("{message}");
        let values = [Some(&message as &dyn tracing::Value)];
        let values = CLIENT_ERROR.fields().value_set_all(&values);
        self.0.on_event(&Event::new(&CLIENT_ERROR, &values), ctx);
    }

    // The rest as the wrapped layer does it.
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &tracing::span::Id, new: &tracing::span::Id, ctx: Context<'_, S>) {
        self.0.on_id_change(old, new, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::Dispatch;

    /// Lines written to memory.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a JSON subscriber at `filter` writes while `log` runs with it as the default.
    fn json_lines(filter: &str, log: impl FnOnce(&Dispatch)) -> Vec<serde_json::Value> {
        let written = Written::default();
        let writer = written.clone();
        let dispatch =
            Dispatch::new(subscriber(LogFormat::Json, EnvFilter::new(filter), move || writer.clone(), false));
        log(&dispatch);
        let written = written.0.lock().map(|w| String::from_utf8_lossy(&w).into_owned()).unwrap_or_default();
        written.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }

    #[test]
    fn a_line_written_on_another_thread_inside_a_request_span_carries_its_id_at_the_top_level() {
        let lines = json_lines("info", |dispatch| {
            let span = tracing::dispatcher::with_default(
                dispatch,
                || tracing::info_span!(target: "users_http::middleware", REQUEST_SPAN, request_id = %"req-7"),
            );
            // As sqlx's SQLite worker does: the caller's span entered on a thread without the request's task.
            let dispatch = dispatch.clone();
            let worker = std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| tracing::warn!("slow statement")))
            });
            worker.join().expect("the worker thread");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["request_id"], "req-7", "{}", lines[0]);
        assert_eq!(lines[0]["span"]["request_id"], "req-7", "{}", lines[0]);
    }

    #[test]
    fn a_line_outside_any_request_has_no_request_id() {
        let lines = json_lines("info", |dispatch| {
            tracing::dispatcher::with_default(dispatch, || {
                let other = tracing::info_span!("maintenance", request_id = %"not-a-request");
                other.in_scope(|| tracing::info!("purged"));
                // A library's span of the same name is not the service's request.
                let library = tracing::info_span!(target: "some_library", REQUEST_SPAN, request_id = %"theirs");
                library.in_scope(|| tracing::info!("sent"));
            })
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|line| line.get("request_id").is_none()), "{lines:?}");
    }
}
