//! The domain of users-api: the [`User`] and its value types (valid by construction), the ports that adapters
//! implement, and the use cases that own the rules. No web framework, database or crypto crate in here.

pub mod auth;
pub mod limits;
pub mod listing;
pub mod lockout;
pub mod mail_flows;
pub mod password_policy;
pub mod ports;
mod service;
mod session;
pub mod transfer;
mod user;

#[cfg(feature = "contract-tests")]
pub mod testing;

pub use listing::{fold_case, Counter, ListQuery, Page, SortDirection, SortKey, StatusFilter, UserFilter};
pub use service::{KeepSessions, NewUserRequest, UserChanges, UserPorts, UserService, UserServiceError};
pub use session::{ClientInfo, Session, SessionId, SessionIdError};
pub use user::{
    AccountStatus, AccountStatusError, Age, AgeError, DisplayName, DisplayNameError, Email, EmailError, NewUser,
    Password, PasswordAttempt, PasswordError, PasswordHash, Role, RoleError, Timestamp, User, UserId, UserIdError,
    UserPatch, UserStatus, UserStatusError, Username, UsernameError,
};
