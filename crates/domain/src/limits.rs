//! The limits of docs/api.md §2 and §3, in one place: the value types, the HTTP adapter and the OpenAPI document all
//! read them from here, so they cannot drift apart.

pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 32;
/// The username alphabet as a regular expression, for the OpenAPI document.
pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9_.-]{3,32}$";
pub const EMAIL_MAX_CHARS: usize = 254;
pub const NAME_MIN_CHARS: usize = 1;
pub const NAME_MAX_CHARS: usize = 100;
pub const AGE_MIN: i64 = 1;
pub const AGE_MAX: i64 = 150;
pub const PASSWORD_MIN_BYTES: usize = 8;
/// bcrypt's own limit: a longer password is refused, never truncated.
pub const PASSWORD_MAX_BYTES: usize = 72;
pub const PAGE_LIMIT_MIN: u32 = 1;
pub const PAGE_LIMIT_MAX: u32 = 100;
pub const PAGE_LIMIT_DEFAULT: u32 = 20;
