//! Sessions (docs/api.md §6): a session is one refresh-token family, from its login through its rotations. Access
//! tokens name theirs (`sid`), so revoking a session ends its access tokens too.

use crate::Timestamp;
use std::fmt;

/// A session's id: its refresh-token family's id (URL-safe base64 characters, as the codec makes them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 128 characters of A-Z a-z 0-9 _ -")]
pub struct SessionIdError;

impl SessionId {
    pub const MAX_LENGTH: usize = 128;

    pub fn parse(s: impl Into<String>) -> Result<Self, SessionIdError> {
        let s = s.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if s.is_empty() || s.len() > Self::MAX_LENGTH || !s.bytes().all(allowed) {
            return Err(SessionIdError);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a session was last used from: the client IP (as the HTTP adapter decides it) and its user agent, cut to
/// [`ClientInfo::MAX_USER_AGENT_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInfo {
    ip: Option<String>,
    user_agent: Option<String>,
}

impl ClientInfo {
    pub const MAX_USER_AGENT_CHARS: usize = 256;

    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().take(Self::MAX_USER_AGENT_CHARS).collect());
        Self { ip, user_agent }
    }

    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

/// A live session as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub created_at: Timestamp,
    /// The last login or refresh.
    pub last_used_at: Timestamp,
    /// When its newest refresh token expires.
    pub expires_at: Timestamp,
    pub client: ClientInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_url_safe_and_bounded() {
        assert!(SessionId::parse("abc-DEF_123").is_ok());
        for bad in ["", "a b", "a/b", "é", &"a".repeat(129)] {
            assert_eq!(SessionId::parse(bad), Err(SessionIdError), "{bad:?}");
        }
    }

    #[test]
    fn a_user_agent_is_cut_to_256_characters_not_bytes() {
        let long = "é".repeat(300);
        let client = ClientInfo::new(Some("10.0.0.1".into()), Some(&long));
        assert_eq!(client.user_agent().map(|ua| ua.chars().count()), Some(256));
        assert_eq!(client.ip(), Some("10.0.0.1"));
    }
}
