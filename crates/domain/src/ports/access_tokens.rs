use crate::{Role, SessionId, Timestamp, UserId};

/// What an access token says about its holder, once its signature, issuer, audience and times are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    /// The user's token version when the token was issued: a password change bumps it, ending older tokens.
    pub token_version: i64,
    /// The session the token belongs to (`sid`): revoking it ends the token. `None` for a token issued before
    /// sessions existed (checked on its user alone until it expires).
    pub session_id: Option<SessionId>,
}

/// What the issuer needs to know of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: UserId,
    pub role: Role,
    pub token_version: i64,
    pub session_id: SessionId,
}

/// A freshly issued access token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_secs: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in_secs", &self.expires_in_secs)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, issuer, audience, times or shape: the caller is not authenticated.
    #[error("invalid access token")]
    Invalid,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Issues and checks access tokens. Implementations MUST pin the algorithm and require `exp`, `iss` and `aud`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccessTokens: Send + Sync {
    fn issue(&self, subject: &TokenSubject, now: Timestamp) -> Result<AccessToken, TokenError>;

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError>;
}
