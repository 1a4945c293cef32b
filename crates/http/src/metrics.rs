//! Prometheus metrics (`GET /metrics`, text format), one registry per service instance: requests by method, route
//! template (never the raw path: one `unmatched` label for every unknown path) and status; latency; the storage
//! pool's connections; logins by outcome; refresh-token reuse; sessions revoked.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use users_domain::ports::StorageOperations;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGaugeVec,
    logins: IntCounterVec,
    refresh_token_reuse: IntCounter,
    mails: IntCounterVec,
    sessions_revoked: IntCounterVec,
}

/// Why sessions ended (the `reason` of `sessions_revoked_total`).
#[derive(Debug, Clone, Copy)]
pub enum SessionEnd {
    Logout,
    /// `DELETE /users/{id}/sessions[/{sid}]`.
    Deleted,
}

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Succeeded,
    Failed,
    LockedOut,
    /// The right password for a disabled account.
    Disabled,
    /// The right password for an unverified email while verified emails are required.
    EmailNotVerified,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route template")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["method", "route"],
        )?;
        let pool_connections =
            IntGaugeVec::new(Opts::new("storage_pool_connections", "Storage pool connections by state"), &["state"])?;
        let logins = IntCounterVec::new(Opts::new("logins_total", "Login attempts by outcome"), &["outcome"])?;
        let refresh_token_reuse =
            IntCounter::new("refresh_token_reuse_total", "Spent refresh tokens presented again (families revoked)")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(refresh_token_reuse.clone()))?;
        let mails = IntCounterVec::new(
            Opts::new("mails_total", "Mails by outcome: queued, sent, deferred (to retry), failed (given up), dropped"),
            &["outcome"],
        )?;
        registry.register(Box::new(mails.clone()))?;
        let sessions_revoked = IntCounterVec::new(
            Opts::new("sessions_revoked_total", "Sessions revoked by a logout or a session delete"),
            &["reason"],
        )?;
        registry.register(Box::new(sessions_revoked.clone()))?;
        Ok(Self { registry, requests, latency, pool_connections, logins, refresh_token_reuse, mails, sessions_revoked })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        // Clients may invent methods: only the standard ones become labels, or the series would grow unbounded.
        const STANDARD: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
        let method = if STANDARD.contains(&method) { method } else { "other" };
        self.requests.with_label_values(&[method, route, status.as_str()]).inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }

    pub fn login(&self, outcome: LoginOutcome) {
        let label = match outcome {
            LoginOutcome::Succeeded => "succeeded",
            LoginOutcome::Failed => "failed",
            LoginOutcome::LockedOut => "locked_out",
            LoginOutcome::Disabled => "disabled",
            LoginOutcome::EmailNotVerified => "email_not_verified",
        };
        self.logins.with_label_values(&[label]).inc();
    }

    pub fn refresh_token_reused(&self) {
        self.refresh_token_reuse.inc();
    }

    /// A mail queued by a request.
    pub fn mail_queued(&self) {
        self.mails.with_label_values(&["queued"]).inc();
    }

    /// What the sender did with a mail.
    pub fn mail_handled(&self, outcome: users_domain::mail_flows::MailOutcome) {
        use users_domain::mail_flows::MailOutcome;
        let label = match outcome {
            MailOutcome::Sent => "sent",
            MailOutcome::Deferred => "deferred",
            MailOutcome::Failed => "failed",
            MailOutcome::Dropped => "dropped",
        };
        self.mails.with_label_values(&[label]).inc();
    }

    pub fn sessions_revoked(&self, reason: SessionEnd, count: u64) {
        let label = match reason {
            SessionEnd::Logout => "logout",
            SessionEnd::Deleted => "deleted",
        };
        self.sessions_revoked.with_label_values(&[label]).inc_by(count);
    }

    fn render(&self, storage: &dyn StorageOperations) -> Result<String, prometheus::Error> {
        if let Some(stats) = storage.pool_stats() {
            self.pool_connections.with_label_values(&["in_use"]).set(i64::from(stats.in_use));
            self.pool_connections.with_label_values(&["idle"]).set(i64::from(stats.idle));
        }
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

/// `GET /metrics`.
pub async fn serve_metrics(
    metrics: web::Data<Metrics>,
    storage: web::Data<Arc<dyn StorageOperations>>,
) -> HttpResponse {
    match metrics.render(storage.as_ref().as_ref()) {
        Ok(text) => HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4")).body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot render metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
