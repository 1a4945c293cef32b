//! The breached-password check of docs/api.md §7 against a Have I Been Pwned range API, with k-anonymity: only the
//! first 5 hex digits of the password's SHA-1 leave the service; the answer lists every known suffix under that
//! prefix, and the comparison happens here.

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha1::{Digest, Sha1};
use std::sync::Arc;
use std::time::Duration;
use users_domain::ports::{BreachCheckError, BreachedPasswords};
use users_domain::Password;

/// The public range API.
pub const HIBP_DEFAULT_URL: &str = "https://api.pwnedpasswords.com/range/";

/// How long the check waits for a whole answer before letting the password through (docs/api.md §7).
pub const HIBP_TIMEOUT: Duration = Duration::from_secs(2);

/// A range API at `base_url` (the prefix is appended to it). hyper with rustls (aws-lc-rs) rather than reqwest:
/// reqwest's rustls build would need a process-wide default provider for every other client in the workspace.
pub struct HibpRangeApi {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base_url: url::Url,
    timeout: Duration,
}

/// The base URL is not an absolute http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("must be an http:// or https:// URL, e.g. {HIBP_DEFAULT_URL}")]
pub struct HibpUrlError;

impl HibpRangeApi {
    /// Checks the URL only (for start-up's settings check).
    pub fn parse_url(base_url: &str) -> Result<url::Url, HibpUrlError> {
        let mut url = url::Url::parse(base_url).map_err(|_| HibpUrlError)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.query().is_some() {
            return Err(HibpUrlError);
        }
        // The prefix goes after a slash, given or not.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    /// `timeout` bounds the whole request (connect, answer, body); HTTPS trusts the system's roots.
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let base_url = Self::parse_url(base_url)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, base_url, timeout })
    }
}

/// rustls with aws-lc-rs, trusting the system's roots.
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The password's SHA-1 in upper-case hex, split after 5 digits.
fn prefix_and_suffix(password: &Password) -> (String, String) {
    let digest = Sha1::digest(password.expose().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_owned(), suffix.to_owned())
}

/// Whether `body` (lines of `SUFFIX:COUNT`) lists `suffix` with a count above 0 (padding lines have 0).
fn lists(body: &str, suffix: &str) -> Result<bool, BreachCheckError> {
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (listed, count) =
            line.split_once(':').ok_or_else(|| BreachCheckError::Unexpected(anyhow!("an answer line without ':'")))?;
        if listed.eq_ignore_ascii_case(suffix) {
            let count: u64 = count
                .trim()
                .parse()
                .map_err(|_| BreachCheckError::Unexpected(anyhow!("a count that is not a number")))?;
            return Ok(count > 0);
        }
    }
    Ok(false)
}

#[async_trait]
impl BreachedPasswords for HibpRangeApi {
    async fn is_breached(&self, password: &Password) -> Result<bool, BreachCheckError> {
        let (prefix, suffix) = prefix_and_suffix(password);
        let url = self.base_url.join(&prefix).map_err(|e| BreachCheckError::Unexpected(e.into()))?;
        let request = hyper::Request::get(url.as_str())
            .header("add-padding", "true")
            .header(hyper::header::USER_AGENT, concat!("users-api/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| BreachCheckError::Unexpected(e.into()))?;
        // The whole exchange within the deadline. No error carries the URL: it holds the hash's prefix.
        let exchange = async {
            let response = self.client.request(request).await.context("no answer from the range API")?;
            let status = response.status();
            let body = response.into_body().collect().await.context("the range API's answer broke off")?.to_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                BreachCheckError::Unavailable(anyhow!("no answer from the range API within {:?}", self.timeout))
            })?
            .map_err(BreachCheckError::Unavailable)?;
        if !status.is_success() {
            return Err(BreachCheckError::Unavailable(anyhow!("the range API answered {status}")));
        }
        let body = String::from_utf8(body.to_vec())
            .map_err(|_| BreachCheckError::Unexpected(anyhow!("an answer that is not UTF-8")))?;
        lists(&body, &suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_first_five_upper_case_hex_digits_of_the_sha1() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let password = Password::parse("password").expect("valid");
        assert_eq!(
            prefix_and_suffix(&password),
            ("5BAA6".to_owned(), "1E4C9B93F3F0682250B6CF8331B7EE68FD8".to_owned())
        );
    }

    #[test]
    fn a_suffix_counts_only_when_listed_with_a_count_above_zero() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:9545824\r\n";
        assert!(lists(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8").expect("parsed"));
        assert!(lists(&body.to_lowercase(), "1E4C9B93F3F0682250B6CF8331B7EE68FD8").expect("case-insensitive"));
        assert!(!lists(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD9").expect("parsed"));
        assert!(!lists("1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n", "1E4C9B93F3F0682250B6CF8331B7EE68FD8")
            .expect("padding"));
        assert!(lists("<html>", "1E4C9B93F3F0682250B6CF8331B7EE68FD8").is_err());
    }

    #[test]
    fn the_base_url_must_be_http_and_gets_its_trailing_slash() {
        let url = HibpRangeApi::parse_url("http://127.0.0.1:9/range").expect("valid");
        assert_eq!(url.join("5BAA6").expect("joined").as_str(), "http://127.0.0.1:9/range/5BAA6");
        assert_eq!(HibpRangeApi::parse_url(HIBP_DEFAULT_URL).expect("valid").as_str(), HIBP_DEFAULT_URL);
        for bad in ["ftp://x/range/", "not a url", "https://x/range/?a=b", "/range/"] {
            assert!(HibpRangeApi::parse_url(bad).is_err(), "{bad}");
        }
    }
}
