//! The per-IP login limit of docs/api.md §4 (per instance, in memory): every login request from one client IP counts;
//! over `APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE` → 429 with `Retry-After`. The client IP is the TCP peer, or the
//! nearest untrusted address of `X-Forwarded-For` when the peer is a trusted proxy.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;

pub struct LoginRateLimit {
    /// `None`: the limit is off (0).
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
}

impl LoginRateLimit {
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpNet>) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self { limiter, trusted_proxies }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, unless it is a trusted proxy; then the rightmost untrusted address it
    /// forwarded for.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let hops: Vec<IpAddr> = forwarded.split(',').filter_map(|hop| hop.trim().parse().ok()).collect();
        Some(hops.into_iter().rev().find(|ip| !self.is_trusted(*ip)).unwrap_or(peer))
    }

    /// Counts this login; 429 with the seconds to wait when the IP is over its limit.
    pub fn check(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let (Some(limiter), Some(ip)) = (&self.limiter, self.client_ip(req)) else { return Ok(()) };
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
        })
    }
}

/// A login request that the per-IP limit let through: every login request counts, whatever its body, so this
/// extractor comes before the body's.
pub struct WithinLoginLimit;

impl FromRequest for WithinLoginLimit {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = match req.app_data::<web::Data<LoginRateLimit>>() {
            Some(limit) => limit.check(req).map(|()| Self),
            None => Ok(Self),
        };
        std::future::ready(checked)
    }
}

impl paperclip::v2::schema::Apiv2Schema for WithinLoginLimit {}
impl paperclip::actix::OperationModifier for WithinLoginLimit {}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limit(trusted: &[&str]) -> LoginRateLimit {
        LoginRateLimit::new(2, trusted.iter().map(|n| n.parse().expect("CIDR")).collect())
    }

    #[test]
    fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
        let from_proxy = TestRequest::default()
            .peer_addr("10.0.0.5:1234".parse().expect("addr"))
            .insert_header(("X-Forwarded-For", "203.0.113.9, 10.0.0.7"))
            .to_http_request();
        assert_eq!(limit(&["10.0.0.0/8"]).client_ip(&from_proxy), "203.0.113.9".parse().ok());
        assert_eq!(limit(&[]).client_ip(&from_proxy), "10.0.0.5".parse().ok(), "untrusted peer: header ignored");
    }

    #[test]
    fn the_limit_is_per_ip_and_says_how_long_to_wait() {
        let limit = limit(&[]);
        let from =
            |ip: &str| TestRequest::default().peer_addr(format!("{ip}:1").parse().expect("addr")).to_http_request();
        assert!(limit.check(&from("192.0.2.1")).is_ok());
        assert!(limit.check(&from("192.0.2.1")).is_ok());
        match limit.check(&from("192.0.2.1")) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!((1..=60).contains(&retry_after_secs)),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limit.check(&from("192.0.2.2")).is_ok(), "another IP is unaffected");
        let off = LoginRateLimit::new(0, Vec::new());
        for _ in 0..100 {
            assert!(off.check(&from("192.0.2.1")).is_ok());
        }
    }
}
