//! Mail wiring (docs/api.md §7): the mail use cases on the configured transport, and the background sender that
//! drains the outbox. Every instance runs a sender; the outbox's leases give each mail to one of them.

use crate::settings::{self, MailConfig, Settings};
use crate::startup::{PasswordPorts, StartupError};
use std::sync::Arc;
use std::time::Duration;
use users_auth::OpaqueRefreshTokens;
use users_domain::mail_flows::{MailFlowPorts, MailFlowSettings, MailFlows};
use users_domain::ports::{Mailer, Storage};
use users_http::Metrics;

/// How often the sender looks for due mail queued elsewhere (another instance, a retry); a mail queued here wakes
/// it at once.
const POLL: Duration = Duration::from_secs(2);
/// How often expired tokens and old finished mails are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The mail use cases on `mailer`, sharing the service's password ports; `None` without a link base.
pub fn mail_flows(
    settings: &Settings,
    storage: Arc<dyn Storage>,
    mail: &MailConfig,
    mailer: Arc<dyn Mailer>,
    shared: &PasswordPorts,
) -> Result<Option<MailFlows>, StartupError> {
    let times = settings::mail_flow_times(settings, true)?;
    let Some(link_base) = mail.link_base.clone() else { return Ok(None) };
    let ports = MailFlowPorts {
        users: storage.clone(),
        mail: storage.clone(),
        refresh_tokens: storage,
        // Mail tokens are generated and hashed like refresh tokens, never rotated: no successor is derived from
        // them, so the successor key is not the server's.
        codec: Arc::new(OpaqueRefreshTokens::new(b"mail tokens are never rotated")),
        hasher: shared.hasher.clone(),
        passwords: shared.passwords.clone(),
        policy: shared.policy.clone(),
        clock: shared.clock.clone(),
        mailer,
        link: Arc::new(move |token| link_base.link(token)),
    };
    // A claimed mail is another sender's for two SMTP timeouts and a margin: longer than one send may take.
    let lease = Duration::from_secs(settings.mail.smtp_timeout_secs.saturating_mul(2).saturating_add(30));
    let flow_settings = MailFlowSettings {
        reset_ttl: times.reset_ttl,
        verification_ttl: times.verification_ttl,
        invite_ttl: times.invite_ttl,
        max_attempts: mail.max_attempts,
        lease,
    };
    Ok(Some(MailFlows::new(ports, flow_settings)))
}

/// Drains the outbox until the runtime stops: mail left unsent (a crash, a restart) stays queued, and its lease
/// ends, so this or another instance sends it later.
pub fn spawn_sender(flows: MailFlows, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            match flows.send_due().await {
                Ok(outcomes) => outcomes.into_iter().for_each(|outcome| metrics.mail_handled(outcome)),
                Err(error) => tracing::warn!(error = %error, "mail sender: cannot read the outbox"),
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(tokio::time::Instant::now());
                if let Err(error) = flows.purge().await {
                    tracing::warn!(error = %error, "mail sender: cannot purge old mail");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = flows.mail_queued() => {}
            }
        }
    });
}
