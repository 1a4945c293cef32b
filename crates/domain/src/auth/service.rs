use super::{Caller, CheckError, LoginKey, PasswordCheck};
use crate::ports::{
    AccessClaims, AccessToken, AccessTokens, Clock, Grace, RefreshTokenCodec, RefreshTokenStore, RepositoryError,
    SpendOutcome, StoredRefreshToken, TokenError, TokenSubject, UserRepository,
};
use crate::{ClientInfo, PasswordAttempt, SessionId, Timestamp, User};
use std::sync::Arc;

/// How a client names itself at login: its username or its email, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Username(String),
    Email(String),
}

impl LoginName {
    fn as_str(&self) -> &str {
        match self {
            Self::Username(name) | Self::Email(name) => name,
        }
    }
}

/// What a login or a refresh hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access: AccessToken,
    pub refresh_token: RefreshToken,
}

/// An opaque refresh token as handed to its client (stored only hashed). Its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// The token itself, for the response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong password or unknown user: the same answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed logins")]
    Locked { retry_after_secs: u64 },
    /// The right password for a disabled account.
    #[error("account disabled")]
    AccountDisabled,
    /// The right password for an unverified email while verified emails are required (docs/api.md §7).
    #[error("email not verified")]
    EmailNotVerified,
    /// A missing, malformed, expired or outdated access token, or one whose user is gone.
    #[error("invalid access token")]
    InvalidToken,
    /// An unknown, expired or revoked refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A spent refresh token presented again: its family is now revoked. Answered as `InvalidRefreshToken`.
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<RepositoryError> for AuthError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(e) => Self::Unavailable(e),
            RepositoryError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<CheckError> for AuthError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Wrong => Self::InvalidCredentials,
            CheckError::Locked { retry_after_secs } => Self::Locked { retry_after_secs },
            CheckError::Refused => Self::AccountDisabled,
            CheckError::Unavailable(e) => Self::Unavailable(e),
            CheckError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid => Self::InvalidToken,
            TokenError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    codec: Arc<dyn RefreshTokenCodec>,
    access_tokens: Arc<dyn AccessTokens>,
    passwords: Arc<PasswordCheck>,
    clock: Arc<dyn Clock>,
    refresh_ttl: time::Duration,
    /// `APP__AUTH__REQUIRE_VERIFIED_EMAIL`: an unverified user's login is refused (after the disabled check).
    require_verified_email: bool,
    /// docs/api.md §6's refresh grace; zero: none.
    refresh_grace: time::Duration,
}

/// The ports the authentication use cases need.
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub codec: Arc<dyn RefreshTokenCodec>,
    pub access_tokens: Arc<dyn AccessTokens>,
    pub passwords: Arc<PasswordCheck>,
    pub clock: Arc<dyn Clock>,
}

impl AuthService {
    pub fn new(ports: AuthPorts, refresh_ttl: std::time::Duration) -> Self {
        Self {
            users: ports.users,
            refresh_tokens: ports.refresh_tokens,
            codec: ports.codec,
            access_tokens: ports.access_tokens,
            passwords: ports.passwords,
            clock: ports.clock,
            refresh_ttl: time::Duration::try_from(refresh_ttl).unwrap_or(time::Duration::days(14)),
            require_verified_email: false,
            refresh_grace: time::Duration::ZERO,
        }
    }

    /// With `true`, a login whose user has not verified their email is refused (docs/api.md §7).
    pub fn requiring_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// Within `grace` of a refresh, the spent token presented again gets the same successor (docs/api.md §6);
    /// zero (the default) keeps exactly one winner.
    pub fn with_refresh_reuse_grace(mut self, grace: std::time::Duration) -> Self {
        self.refresh_grace = time::Duration::try_from(grace).unwrap_or(time::Duration::ZERO);
        self
    }

    /// A login: a token pair of a new family, or the same `InvalidCredentials` whether the user exists or not.
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn login(
        &self,
        name: &LoginName,
        password: &PasswordAttempt,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let user = self.users.find_by_login_name(name).await?;
        let key = user.as_ref().map_or_else(|| LoginKey::unknown_name(name.as_str()), |u| LoginKey::user(u.id));
        if let Some(user) = &user {
            tracing::Span::current().record("user.id", user.id.get());
        }
        // Judged at the start of the login: a disable that commits later ends the session through the token version.
        let active = user.as_ref().is_none_or(|u| u.is_active_at(self.clock.now()));
        let verified = user.as_ref().is_none_or(|u| u.email_verified || !self.require_verified_email);
        let admitted = active && verified;
        let hash = user.as_ref().map(|u| &u.password_hash);
        match self.passwords.check_admitting(&key, hash, password.expose(), admitted).await {
            Ok(()) => {}
            Err(CheckError::Refused) if !active => {
                tracing::info!(user.id = user.as_ref().map(|u| u.id.get()), "login refused: account disabled");
                return Err(AuthError::AccountDisabled);
            }
            Err(CheckError::Refused) => {
                tracing::info!(user.id = user.as_ref().map(|u| u.id.get()), "login refused: email not verified");
                return Err(AuthError::EmailNotVerified);
            }
            Err(CheckError::Locked { retry_after_secs }) => {
                tracing::info!(user.id = user.as_ref().map(|u| u.id.get()), "login refused: locked out");
                return Err(AuthError::Locked { retry_after_secs });
            }
            Err(CheckError::Wrong) => {
                tracing::info!(user.id = user.as_ref().map(|u| u.id.get()), "login failed");
                return Err(AuthError::InvalidCredentials);
            }
            Err(other) => return Err(other.into()),
        }
        let user = user.ok_or(AuthError::InvalidCredentials)?;
        // Conditional on the token version read with the checked hash: a password change, disable or delete that
        // committed during the check ends the login here.
        if !self.users.record_login(user.id, user.token_version, self.clock.now()).await? {
            tracing::info!(user.id = user.id.get(), "login failed: the user changed during the check");
            return Err(AuthError::InvalidCredentials);
        }
        self.upgrade_hash(&user, password).await;
        let family_id = new_family_id(&*self.codec)?;
        let (refresh_token, token_hash) = self.codec.generate().map_err(AuthError::Unexpected)?;
        let pair = self.issue(&user, family_id, NextToken { refresh_token, token_hash }, client).await?;
        tracing::info!(user.id = user.id.get(), actor.id = user.id.get(), "login succeeded");
        Ok(pair)
    }

    /// Replaces an imported hash (another algorithm, or bcrypt at another cost) by one at the configured cost,
    /// now that the password is known to match. Conditional on the hash checked, so a password change that
    /// committed meanwhile wins. A failure is logged and the login still succeeds: the old hash still works.
    async fn upgrade_hash(&self, user: &User, password: &PasswordAttempt) {
        let upgraded = match self.passwords.upgraded(&user.password_hash, password.expose()).await {
            Ok(Some(upgraded)) => upgraded,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(user.id = user.id.get(), error = %error, "could not rehash the password");
                return;
            }
        };
        match self.users.replace_password_hash(user.id, &user.password_hash, &upgraded).await {
            Ok(true) => tracing::info!(user.id = user.id.get(), "password rehashed at the configured cost"),
            Ok(false) => {}
            Err(error) => tracing::warn!(user.id = user.id.get(), error = %error, "could not store the rehash"),
        }
    }

    /// A pair for `user` in `family_id`, both bound to `user.token_version`: the version read together with the
    /// password hash that was checked (login) or that the spent token carried (refresh). A password change that
    /// commits meanwhile bumps the version, so neither token works once it has returned.
    async fn issue(
        &self,
        user: &User,
        family_id: SessionId,
        next: NextToken,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let access = self.access_token(user, &family_id, now)?;
        let expires_at = Timestamp::from_datetime(now.as_datetime() + self.refresh_ttl);
        let stored = StoredRefreshToken {
            token_hash: next.token_hash,
            user_id: user.id,
            family_id: family_id.as_str().to_owned(),
            expires_at,
            token_version: user.token_version,
            issued_at: now,
            client,
        };
        self.refresh_tokens.insert(stored).await?;
        Ok(TokenPair { access, refresh_token: RefreshToken(next.refresh_token) })
    }

    fn access_token(&self, user: &User, session: &SessionId, now: Timestamp) -> Result<AccessToken, AuthError> {
        let subject = TokenSubject {
            user_id: user.id,
            role: user.role,
            token_version: user.token_version,
            session_id: session.clone(),
        };
        Ok(self.access_tokens.issue(&subject, now)?)
    }

    /// The grace for a refresh now whose successor is `successor`, unless the grace is off.
    fn grace(&self, successor: &NextToken, now: Timestamp) -> Option<Grace> {
        (self.refresh_grace > time::Duration::ZERO).then(|| Grace {
            successor_hash: successor.token_hash.clone(),
            spent_since: Timestamp::from_datetime(now.as_datetime() - self.refresh_grace),
        })
    }

    /// Rotation: the token is spent and a new pair of the same family returned; the new refresh token is the spent
    /// one's successor (`RefreshTokenCodec::successor`). A spent or revoked token is reuse: its family is revoked.
    /// Within the grace, the token just spent is answered with the same successor and a fresh access token.
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn refresh(&self, refresh_token: &str, client: ClientInfo) -> Result<TokenPair, AuthError> {
        let hash = self.codec.hash(refresh_token);
        let successor = self.codec.successor(refresh_token);
        let next = NextToken { token_hash: self.codec.hash(&successor), refresh_token: successor };
        let now = self.clock.now();
        let grace = self.grace(&next, now);
        match self.refresh_tokens.spend(&hash, now, grace.as_ref()).await? {
            SpendOutcome::Spent { user_id, family_id, token_version } => {
                tracing::Span::current().record("user.id", user_id.get());
                let (user, session) = self.session_user(user_id, &family_id, token_version).await?;
                self.issue(&user, session, next, client).await
            }
            SpendOutcome::Repeated { user_id, family_id, token_version } => {
                tracing::Span::current().record("user.id", user_id.get());
                tracing::info!(user.id = user_id.get(), "refresh token repeated within the grace");
                let (user, session) = self.session_user(user_id, &family_id, token_version).await?;
                let access = self.access_token(&user, &session, self.clock.now())?;
                Ok(TokenPair { access, refresh_token: RefreshToken(next.refresh_token) })
            }
            SpendOutcome::Reused { user_id, .. } => {
                tracing::info!(user.id = user_id.get(), "refresh token reuse: family revoked");
                Err(AuthError::RefreshTokenReused)
            }
            SpendOutcome::Invalid => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// The user a spent token's session belongs to, read now for its role; the version must still be the one the
    /// spent token carried (a password change since then ends the session here rather than through the version
    /// check later).
    async fn session_user(
        &self,
        user_id: crate::UserId,
        family_id: &str,
        token_version: i64,
    ) -> Result<(User, SessionId), AuthError> {
        let session = SessionId::parse(family_id).map_err(|e| AuthError::Unexpected(e.into()))?;
        // The role is read now; the version must still be the one the spent token carried (a password change or
        // disable since then ends the session here rather than through the version check later).
        let user = self.users.find_by_id(user_id).await?;
        let now = self.clock.now();
        let user = user
            .filter(|u| u.token_version == token_version && u.is_active_at(now))
            .ok_or(AuthError::InvalidRefreshToken)?;
        Ok((user, session))
    }

    /// Revokes the family of the token, and so its session's access tokens; an unknown, spent or revoked token is
    /// fine too (idempotent). `true` when a live session ended.
    pub async fn logout(&self, refresh_token: &str) -> Result<bool, AuthError> {
        let hash = self.codec.hash(refresh_token);
        Ok(self.refresh_tokens.revoke_family_of(&hash, self.clock.now()).await?)
    }

    /// The caller an access token stands for: the user must still exist, not have changed their password since,
    /// and the token's session must not be revoked.
    pub async fn authenticate(&self, access_token: &str) -> Result<Caller, AuthError> {
        self.caller(&self.verify(access_token)?).await
    }

    /// The caller verified claims stand for, checked against the stored user and session in one round trip.
    pub async fn caller(&self, claims: &AccessClaims) -> Result<Caller, AuthError> {
        let stored = self.users.find_caller(claims.user_id, claims.session_id.as_ref(), &[]).await?;
        Caller::from_claims(claims, stored.into_iter().find(|u| u.id == claims.user_id)).ok_or(AuthError::InvalidToken)
    }

    /// Checks an access token's signature and claims only, without storage: who claims to call. The stored user
    /// must still be checked (`Caller::from_claims`).
    pub fn verify(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        Ok(self.access_tokens.verify(access_token)?)
    }

    /// Removes expired refresh tokens and old login failures; returns how many rows went.
    pub async fn purge_expired(&self, failures_before: Timestamp) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let tokens = self.refresh_tokens.purge_refresh_tokens(now).await?;
        let failures = self.passwords.purge(failures_before).await?;
        Ok(tokens + failures)
    }
}

/// A refresh token about to be handed out, and its hash.
struct NextToken {
    refresh_token: String,
    token_hash: String,
}

/// A fresh family id: the hash of a fresh random token (random, opaque, and needs no other port).
fn new_family_id(codec: &dyn RefreshTokenCodec) -> Result<SessionId, AuthError> {
    let (_, hash) = codec.generate().map_err(AuthError::Unexpected)?;
    SessionId::parse(hash).map_err(|e| AuthError::Unexpected(e.into()))
}
