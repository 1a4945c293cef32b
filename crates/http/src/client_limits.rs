//! Per-client protections of docs/api.md §4, per instance and in memory: who the client is (its IP), and how often it
//! may log in and sign up (429 with `Retry-After` over `APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE` and
//! `APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE`).

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

/// Requests per minute and client IP; `None` when the limit is off (0).
struct PerIpLimit(Option<DefaultKeyedRateLimiter<IpAddr>>);

impl PerIpLimit {
    fn new(per_minute: u32) -> Self {
        Self(NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))))
    }

    /// Counts one request of `ip`; 429 with the whole seconds to wait when it is over the limit.
    fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        // Forget idle clients now and then, so many addresses cannot grow the map without bound.
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
        })
    }
}

pub struct ClientLimits {
    trusted_proxies: Vec<IpNet>,
    login: PerIpLimit,
    signup: PerIpLimit,
    /// Anonymous mail requests (a reset, a verification resend), limited like logins (docs/api.md §7).
    mail: PerIpLimit,
}

impl ClientLimits {
    /// `login_per_minute` and `signup_per_minute`: 0 turns that limit off.
    pub fn new(trusted_proxies: Vec<IpNet>, login_per_minute: u32, signup_per_minute: u32) -> Self {
        Self {
            trusted_proxies,
            login: PerIpLimit::new(login_per_minute),
            signup: PerIpLimit::new(signup_per_minute),
            mail: PerIpLimit::new(login_per_minute),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the TCP peer, unless it is a trusted proxy; then the right-most address of
    /// `X-Forwarded-For` that is not a trusted proxy (the hops left of it were written by the client and prove
    /// nothing). Several header lines are one list, in order (RFC 9110 §5.3).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        // Only a test request has no peer; one key for all of them.
        let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops = forwarded_for(req.headers());
        // Every hop trusted (an internal client behind the proxies): the left-most, as nginx's `real_ip_recursive`.
        hops.iter().rev().find(|ip| !self.is_trusted(**ip)).or(hops.first()).copied().unwrap_or(peer)
    }

    /// Counts a login request of this client: 429 when it is over its limit.
    pub fn check_login(&self, req: &HttpRequest) -> Result<(), ApiError> {
        self.login.check(self.client_ip(req))
    }

    /// An anonymous mail request: its own budget, as large as the login one.
    pub fn check_mail_request(&self, req: &HttpRequest) -> Result<(), ApiError> {
        self.mail.check(self.client_ip(req))
    }

    /// Counts a sign-up (a create that is not an admin's) of this client: 429 when it is over its limit.
    pub fn check_signup(&self, req: &HttpRequest) -> Result<(), ApiError> {
        self.signup.check(self.client_ip(req))
    }
}

/// The client's address as the configured `ClientLimits` decide it (the TCP peer when none are configured).
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    match req.app_data::<web::Data<ClientLimits>>() {
        Some(limits) => limits.client_ip(req),
        None => req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
    }
}

/// The client a session records: its IP as `client_ip` decides it, and its `User-Agent` (cut by the domain).
pub fn client_info(req: &HttpRequest) -> users_domain::ClientInfo {
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    users_domain::ClientInfo::new(Some(client_ip(req).to_string()), user_agent)
}

/// Every address of every `X-Forwarded-For` line, in order; a hop that is not an address (`unknown`, garbage)
/// is skipped.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect()
}

/// A login request that the per-IP limit let through: every login request counts, whatever its body, so this
/// extractor comes before the body's.
pub struct WithinLoginLimit;

impl FromRequest for WithinLoginLimit {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = match req.app_data::<web::Data<ClientLimits>>() {
            Some(limits) => limits.check_login(req).map(|()| Self),
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

    fn limits(trusted: &[&str]) -> ClientLimits {
        ClientLimits::new(trusted.iter().map(|n| n.parse().expect("CIDR")).collect(), 2, 1)
    }

    fn from_proxy(lines: &[&str]) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr("10.0.0.5:1234".parse().expect("addr"));
        for line in lines {
            request = request.append_header(("X-Forwarded-For", *line));
        }
        request.to_http_request()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("IP")
    }

    #[test]
    fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
        let request = from_proxy(&["203.0.113.9, 10.0.0.7"]);
        assert_eq!(limits(&["10.0.0.0/8"]).client_ip(&request), ip("203.0.113.9"));
        assert_eq!(limits(&[]).client_ip(&request), ip("10.0.0.5"), "untrusted peer: header ignored");
    }

    #[test]
    fn several_x_forwarded_for_lines_are_one_list_in_order() {
        let trusted = limits(&["10.0.0.0/8"]);
        // The client wrote the first line; the proxy appended the address it saw in a line of its own.
        let request = from_proxy(&["198.51.100.66", "203.0.113.9"]);
        assert_eq!(trusted.client_ip(&request), ip("203.0.113.9"), "the right-most untrusted hop, not the first line");
        let request = from_proxy(&["198.51.100.66, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(trusted.client_ip(&request), ip("203.0.113.9"), "trusted hops on the right are skipped");
        let request = from_proxy(&["10.0.0.8", "10.0.0.7"]);
        assert_eq!(trusted.client_ip(&request), ip("10.0.0.8"), "only trusted hops: the left-most of them");
        assert_eq!(trusted.client_ip(&from_proxy(&[])), ip("10.0.0.5"), "no header: the proxy itself");
        let request = from_proxy(&["203.0.113.9, unknown", "garbage"]);
        assert_eq!(trusted.client_ip(&request), ip("203.0.113.9"), "hops that are not addresses are skipped");
    }

    fn from(ip: &str) -> HttpRequest {
        TestRequest::default().peer_addr(format!("{ip}:1").parse().expect("addr")).to_http_request()
    }

    #[test]
    fn the_login_limit_is_per_ip_and_says_how_long_to_wait() {
        let limits = limits(&[]);
        assert!(limits.check_login(&from("192.0.2.1")).is_ok());
        assert!(limits.check_login(&from("192.0.2.1")).is_ok());
        match limits.check_login(&from("192.0.2.1")) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!((1..=60).contains(&retry_after_secs)),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limits.check_login(&from("192.0.2.2")).is_ok(), "another IP is unaffected");
        assert!(limits.check_signup(&from("192.0.2.1")).is_ok(), "sign-ups are counted apart from logins");
        assert!(limits.check_signup(&from("192.0.2.1")).is_err(), "one sign-up a minute");
        let off = ClientLimits::new(Vec::new(), 0, 0);
        for _ in 0..100 {
            assert!(off.check_login(&from("192.0.2.1")).is_ok());
            assert!(off.check_signup(&from("192.0.2.1")).is_ok());
        }
    }
}
