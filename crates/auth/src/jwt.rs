//! Access tokens: JWTs signed with the configured secret's bytes (HS256) or with Ed25519 key files (EdDSA, see
//! signing_keys.rs). Validation is strict: the algorithm is pinned, `exp`, `iss`, `aud` and `sub` are required and
//! checked, `nbf` is checked when present, and the leeway is a few seconds.

use crate::signing_keys::{SigningKeys, TokenKeys};
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use users_domain::ports::{
    AccessClaims, AccessToken, AccessTokens, TokenError, TokenSubject, VerificationKey, VerificationKeys,
};
use users_domain::{SessionId, Timestamp, UserId};

/// Clock skew tolerated between instances.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    iat: i64,
    nbf: Option<i64>,
    exp: i64,
    iss: String,
    aud: String,
    jti: String,
    /// The user's token version at issue time.
    ver: i64,
    /// The session (refresh-token family) the token belongs to; absent from tokens issued before sessions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

pub struct JwtAccessTokens {
    keys: TokenKeys,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl JwtAccessTokens {
    /// `secret` is used as-is (its bytes) as the HS256 key.
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        Self::with_keys(TokenKeys::secret(secret), issuer, audience, ttl_secs)
    }

    /// EdDSA: signed with the newest published key of `keys`, verified with the key each token names.
    pub fn signed_with(keys: Arc<SigningKeys>, issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        Self::with_keys(TokenKeys::Ed25519(keys), issuer, audience, ttl_secs)
    }

    fn with_keys(keys: TokenKeys, issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(keys.algorithm());
        validation.algorithms = vec![keys.algorithm()];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self { keys, validation, issuer: issuer.to_owned(), audience: audience.to_owned(), ttl_secs }
    }
}

impl AccessTokens for JwtAccessTokens {
    fn issue(&self, subject: &TokenSubject, now: Timestamp) -> Result<AccessToken, TokenError> {
        let iat = now.as_datetime().unix_timestamp();
        let claims = Claims {
            sub: subject.user_id.to_string(),
            role: subject.role.as_str().to_owned(),
            iat,
            nbf: Some(iat),
            exp: iat + i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            ver: subject.token_version,
            sid: Some(subject.session_id.as_str().to_owned()),
        };
        let token = self.keys.sign(&claims, now.as_datetime())?;
        Ok(AccessToken { token, expires_in_secs: self.ttl_secs })
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = self.keys.decode::<Claims>(token, &self.validation)?;
        let user_id = UserId::parse(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
        let session_id = data.claims.sid.map(SessionId::parse).transpose().map_err(|_| TokenError::Invalid)?;
        Ok(AccessClaims { user_id, token_version: data.claims.ver, session_id })
    }
}

impl VerificationKeys for JwtAccessTokens {
    fn published(&self) -> Option<Vec<VerificationKey>> {
        self.keys.published()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::{json, Value};
    use users_domain::Role;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn tokens() -> JwtAccessTokens {
        JwtAccessTokens::new(SECRET, "users-api", "users-api", 900)
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: UserId::new(7).expect("id"),
            role: Role::Admin,
            token_version: 3,
            session_id: SessionId::parse("session-1").expect("sid"),
        }
    }

    fn now_secs() -> i64 {
        Timestamp::now().as_datetime().unix_timestamp()
    }

    /// A token with these header and claims, HS256-signed with `key` (whatever the header says).
    fn forged(header: Value, claims: Value, key: &[u8]) -> String {
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &EncodingKey::from_secret(key), Algorithm::HS256)
                .expect("signed");
        format!("{signing_input}.{signature}")
    }

    fn valid_claims() -> Value {
        let now = now_secs();
        json!({"sub": "7", "role": "admin", "iat": now, "exp": now + 600, "iss": "users-api", "aud": "users-api",
               "jti": "x", "ver": 3})
    }

    fn with(claims: Value, key: &str, value: Value) -> Value {
        let mut claims = claims;
        match value {
            Value::Null => {
                claims.as_object_mut().expect("object").remove(key);
            }
            value => claims[key] = value,
        }
        claims
    }

    #[test]
    fn a_token_it_issued_verifies_with_the_subject_and_version() {
        let issued = tokens().issue(&subject(), Timestamp::now()).expect("issued");
        assert_eq!(issued.expires_in_secs, 900);
        let claims = tokens().verify(&issued.token).expect("valid");
        let expected = AccessClaims {
            user_id: UserId::new(7).expect("id"),
            token_version: 3,
            session_id: Some(SessionId::parse("session-1").expect("sid")),
        };
        assert_eq!(claims, expected);
        let hs256 = json!({"alg": "HS256", "typ": "JWT"});
        assert!(tokens().verify(&forged(hs256, valid_claims(), SECRET)).is_ok(), "the forging helper is sound");
    }

    #[test]
    fn every_kind_of_bad_token_is_invalid() {
        let hs256 = json!({"alg": "HS256", "typ": "JWT"});
        let now = now_secs();
        let cases = [
            ("garbage", "not.a.token".to_owned()),
            ("empty", String::new()),
            ("alg none", {
                let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
                let claims = URL_SAFE_NO_PAD.encode(valid_claims().to_string());
                format!("{header}.{claims}.")
            }),
            ("HS512 header", forged(json!({"alg": "HS512", "typ": "JWT"}), valid_claims(), SECRET)),
            ("RS256 header", forged(json!({"alg": "RS256", "typ": "JWT"}), valid_claims(), SECRET)),
            ("wrong key", forged(hs256.clone(), valid_claims(), b"another secret of thirty-two bytes!")),
            ("wrong iss", forged(hs256.clone(), with(valid_claims(), "iss", json!("evil")), SECRET)),
            ("wrong aud", forged(hs256.clone(), with(valid_claims(), "aud", json!("other-api")), SECRET)),
            ("expired", forged(hs256.clone(), with(valid_claims(), "exp", json!(now - 60)), SECRET)),
            ("no exp", forged(hs256.clone(), with(valid_claims(), "exp", Value::Null), SECRET)),
            ("no iss", forged(hs256.clone(), with(valid_claims(), "iss", Value::Null), SECRET)),
            ("no aud", forged(hs256.clone(), with(valid_claims(), "aud", Value::Null), SECRET)),
            ("nbf in the future", forged(hs256.clone(), with(valid_claims(), "nbf", json!(now + 600)), SECRET)),
            ("sub not an id", forged(hs256.clone(), with(valid_claims(), "sub", json!("alice")), SECRET)),
            ("sid not a session id", forged(hs256.clone(), with(valid_claims(), "sid", json!("a b")), SECRET)),
        ];
        for (what, token) in cases {
            assert!(matches!(tokens().verify(&token), Err(TokenError::Invalid)), "{what}");
        }
    }

    #[test]
    fn a_token_of_another_issuer_configuration_is_refused() {
        let other = JwtAccessTokens::new(SECRET, "someone-else", "users-api", 900);
        let issued = other.issue(&subject(), Timestamp::now()).expect("issued");
        assert!(matches!(tokens().verify(&issued.token), Err(TokenError::Invalid)));
    }
}
