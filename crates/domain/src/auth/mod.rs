//! Authentication and the authorization policy of docs/api.md §3–§4, over the ports: who the caller is (from an
//! access token, checked against the stored user on every request), logins under the lockout rule, refresh-token
//! rotation with reuse detection, and what a caller may do.

mod caller;
mod credentials;
mod service;

pub use caller::Caller;
pub use credentials::{CheckError, LoginKey, PasswordCheck};
pub use service::{AuthError, AuthPorts, AuthService, LoginName, RefreshToken, TokenPair};

#[cfg(test)]
mod tests;
