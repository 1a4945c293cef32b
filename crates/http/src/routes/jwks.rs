//! The public keys of access tokens, as a JWK Set (docs/api.md §8): what other services verify tokens with.

use crate::problem::ApiError;
use crate::responses::Cached;
use crate::PublishedKeys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use paperclip::actix::web::Data;
use paperclip::actix::{api_v2_operation, Apiv2Schema};
use serde::Serialize;

/// A JSON Web Key Set (RFC 7517) of Ed25519 public keys.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct JwkSet {
    /// Every key a token may be signed with, newest first.
    pub keys: Vec<Jwk>,
}

/// An Ed25519 public key as a JWK (RFC 8037).
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key's id: its RFC 7638 thumbprint, as tokens name it in their header's `kid`.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

/// Token verification keys
///
/// The public keys that verify access tokens (JWKS): a service verifies a token with the key its `kid` names.
/// Cacheable (`Cache-Control: max-age`); a new key is listed here before it signs. 404 when tokens are signed with a
/// shared secret (HS256).
#[api_v2_operation(tags(Auth), operation_id = "jwks")]
pub async fn jwks(published: Data<PublishedKeys>) -> Result<Cached<JwkSet>, ApiError> {
    let keys = published.keys.published().ok_or(ApiError::RouteNotFound)?;
    let keys = keys
        .into_iter()
        .map(|key| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: URL_SAFE_NO_PAD.encode(key.ed25519_public_key),
            kid: key.key_id,
            alg: "EdDSA",
            key_use: "sig",
        })
        .collect();
    Ok(Cached { body: JwkSet { keys }, max_age: published.max_age })
}
