//! The JSON shapes of docs/api.md §2 and §3. Request DTOs check their fields with garde, whose custom rules are the
//! domain's own `parse` functions, so every rule is written once (in the domain) and every broken one is reported.

use crate::problem::{ApiError, FieldError};
use crate::secret_field::SecretField;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Deserializer, Serialize};
use users_domain::transfer::{ImportCandidate, ImportedPassword};
use users_domain::{
    AccountStatus, Age, DisplayName, Email, NewUserRequest, Password, PasswordAttempt, PasswordError, Role,
    StatusFilter, Timestamp, User, UserChanges, UserFilter, UserStatus, Username,
};

/// A role as JSON spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    User,
    Admin,
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::User => Role::User,
            RoleDto::Admin => Role::Admin,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::User => RoleDto::User,
            Role::Admin => RoleDto::Admin,
        }
    }
}

/// A status as JSON spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "lowercase")]
pub enum StatusDto {
    Active,
    Disabled,
}

impl From<StatusDto> for UserStatus {
    fn from(status: StatusDto) -> Self {
        match status {
            StatusDto::Active => UserStatus::Active,
            StatusDto::Disabled => UserStatus::Disabled,
        }
    }
}

impl From<UserStatus> for StatusDto {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => StatusDto::Active,
            UserStatus::Disabled => StatusDto::Disabled,
        }
    }
}

/// The status a body asks for: `status` with an optional `disabled_until` (RFC 3339, in the future, only with
/// `disabled`), judged at `now`. `disabled_until` without `status` is refused rather than guessed at.
fn requested_status(
    status: Option<StatusDto>,
    disabled_until: Option<Option<&str>>,
    now: Timestamp,
) -> Result<Option<AccountStatus>, FieldError> {
    let until = match disabled_until.flatten() {
        Some(text) => Some(
            Timestamp::parse_rfc3339(text)
                .ok_or_else(|| FieldError::new("disabled_until", "must be an RFC 3339 timestamp"))?,
        ),
        None => None,
    };
    let Some(status) = status else {
        return match disabled_until {
            Some(_) => Err(FieldError::new("disabled_until", "is only accepted together with status")),
            None => Ok(None),
        };
    };
    AccountStatus::parse(status.into(), until, now)
        .map(Some)
        .map_err(|e| FieldError::new("disabled_until", e.to_string()))
}

/// A user as every response shows it: every field but the password; `name` and `age` null when empty.
#[derive(Debug, Serialize, Apiv2Schema)]
#[openapi(rename = "User")]
pub struct UserResponse {
    /// Assigned by the server; never reused.
    pub id: i64,
    pub username: String,
    /// Stored lower-cased.
    pub email: String,
    pub name: Option<String>,
    pub age: Option<i64>,
    pub role: RoleDto,
    /// RFC 3339, UTC, six fraction digits.
    pub created_at: String,
    pub updated_at: String,
    /// `disabled` until an admin re-enables the user or `disabled_until` passes.
    pub status: StatusDto,
    /// The end of a ban; null when active or disabled until re-enabled.
    pub disabled_until: Option<String>,
    pub email_verified: bool,
    /// The last successful login; null before the first.
    pub last_login_at: Option<String>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        // A ban whose end has passed reads as active (docs/api.md §2).
        let status = user.status.at(Timestamp::now());
        Self {
            status: status.kind().into(),
            disabled_until: status.disabled_until().map(|t| t.to_string()),
            email_verified: user.email_verified,
            last_login_at: user.last_login_at.map(|t| t.to_string()),
            id: user.id.get(),
            username: user.username.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            name: user.name.map(|n| n.as_str().to_owned()),
            age: user.age.map(Age::get),
            role: user.role.into(),
            created_at: user.created_at.to_string(),
            updated_at: user.updated_at.to_string(),
        }
    }
}

/// garde rules that delegate to the domain's value types.
mod rules {
    use super::*;

    fn check<T, E: std::fmt::Display>(result: Result<T, E>) -> garde::Result {
        result.map(|_| ()).map_err(|e| garde::Error::new(e.to_string()))
    }

    pub fn username(v: &str, _: &()) -> garde::Result {
        check(Username::parse(v))
    }
    pub fn email(v: &str, _: &()) -> garde::Result {
        check(Email::parse(v))
    }
    pub fn password(v: &str, _: &()) -> garde::Result {
        check(Password::parse(v))
    }
    pub fn name(v: &str, _: &()) -> garde::Result {
        check(DisplayName::parse(v))
    }
    pub fn age(v: &i64, _: &()) -> garde::Result {
        check(Age::parse(*v))
    }
    pub fn timestamp(v: &str, _: &()) -> garde::Result {
        users_domain::Timestamp::parse_rfc3339(v)
            .map(drop)
            .ok_or_else(|| garde::Error::new("not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05.123456Z)"))
    }
}

/// Runs garde and lists every broken rule by field.
fn validate(dto: &impl garde::Validate<Context = ()>) -> Result<(), ApiError> {
    dto.validate().map_err(|report| {
        ApiError::Validation(
            report.iter().map(|(path, error)| FieldError::new(path.to_string(), error.message().to_owned())).collect(),
        )
    })
}

/// Turns an `Err` that garde has already ruled out into a 500 rather than a panic.
fn checked<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ApiError> {
    result.map_err(|e| {
        tracing::error!(error = %e, "a value passed validation but not parsing");
        ApiError::Internal
    })
}

/// `POST /users`: sign-up, or an admin creating a user.
#[derive(Debug, Deserialize, Apiv2Schema, garde::Validate)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "NewUser")]
pub struct CreateUserBody {
    // Required, but optional here so that every missing one is reported at once (the document says required).
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::username(v, c))))]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::email(v, c))))]
    pub email: Option<String>,
    /// 8–72 bytes; write-only.
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &SecretField, c| rules::password(v.expose(), c))))]
    pub password: Option<SecretField>,
    #[garde(inner(custom(|v: &String, c| rules::name(v, c))))]
    pub name: Option<String>,
    #[garde(inner(custom(|v: &i64, c| rules::age(v, c))))]
    pub age: Option<i64>,
    /// Only an admin may set it.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub role: Option<RoleDto>,
    /// Admin only; `active` by default.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub status: Option<StatusDto>,
    /// Admin only; with `status: "disabled"`, the end of the ban (RFC 3339, in the future); null: until re-enabled.
    #[serde(default, deserialize_with = "nullable")]
    #[garde(skip)]
    pub disabled_until: Option<Option<String>>,
    /// Admin only; false by default.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub email_verified: Option<bool>,
}

impl CreateUserBody {
    pub fn into_request(self) -> Result<NewUserRequest, ApiError> {
        let mut errors = missing(&[
            ("username", self.username.is_none()),
            ("email", self.email.is_none()),
            ("password", self.password.is_none()),
        ]);
        if let Err(ApiError::Validation(broken)) = validate(&self) {
            errors.extend(broken);
        }
        let until = self.disabled_until.as_ref().map(Option::as_deref);
        let status = requested_status(self.status, until, Timestamp::now()).map_err(|e| errors.push(e)).ok().flatten();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let (Some(username), Some(email), Some(password)) = (self.username, self.email, self.password) else {
            return Err(ApiError::Internal);
        };
        Ok(NewUserRequest {
            username: checked(Username::parse(username))?,
            email: checked(Email::parse(email))?,
            name: checked(self.name.as_deref().map(DisplayName::parse).transpose())?,
            age: checked(self.age.map(Age::parse).transpose())?,
            role: self.role.map(Role::from),
            password: checked(Password::parse(password.into_exposed()))?,
            status,
            email_verified: self.email_verified,
        })
    }
}

/// A "missing field" error for each required field that is absent.
fn missing(fields: &[(&str, bool)]) -> Vec<FieldError> {
    fields.iter().filter(|(_, absent)| *absent).map(|(field, _)| FieldError::new(*field, "is required")).collect()
}

/// A field that may be absent but, when present, must not be null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A nullable field: absent → `None`, `null` → `Some(None)`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PUT`/`PATCH /users/{id}`: any subset of the fields; `null` clears `name` or `age`.
#[derive(Debug, Deserialize, Apiv2Schema, garde::Validate)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "UserUpdate")]
pub struct UpdateUserBody {
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::username(v, c))))]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::email(v, c))))]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[garde(inner(inner(custom(|v: &String, c| rules::name(v, c)))))]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[garde(inner(inner(custom(|v: &i64, c| rules::age(v, c)))))]
    pub age: Option<Option<i64>>,
    /// Only an admin may change it.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub role: Option<RoleDto>,
    /// The new password, 8–72 bytes.
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &SecretField, c| rules::password(v.expose(), c))))]
    pub password: Option<SecretField>,
    /// Required when changing one's own password.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub current_password: Option<SecretField>,
    /// Admin only. `disabled` ends every session of the user at once.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub status: Option<StatusDto>,
    /// Admin only; with `status: "disabled"`, the end of the ban (RFC 3339, in the future); null: until re-enabled.
    #[serde(default, deserialize_with = "nullable")]
    #[garde(skip)]
    pub disabled_until: Option<Option<String>>,
    /// Admin only. An email change sets it to false unless the same request sends it.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub email_verified: Option<bool>,
}

impl UpdateUserBody {
    pub fn into_changes(self) -> Result<UserChanges, ApiError> {
        validate(&self)?;
        if self.current_password.is_some() && self.password.is_none() && self.email.is_none() {
            return Err(ApiError::invalid("current_password", "is only accepted together with password or email"));
        }
        let until = self.disabled_until.as_ref().map(Option::as_deref);
        let status =
            requested_status(self.status, until, Timestamp::now()).map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(UserChanges {
            username: checked(self.username.map(Username::parse).transpose())?,
            email: checked(self.email.map(Email::parse).transpose())?,
            name: checked(self.name.map(|n| n.as_deref().map(DisplayName::parse).transpose()).transpose())?,
            age: checked(self.age.map(|a| a.map(Age::parse).transpose()).transpose())?,
            role: self.role.map(Role::from),
            password: checked(self.password.map(|p| Password::parse(p.into_exposed())).transpose())?,
            current_password: self.current_password.map(|p| PasswordAttempt::new(p.into_exposed())),
            status,
            email_verified: self.email_verified,
        })
    }
}

/// `GET /users` query parameters.
#[derive(Debug, Default, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1–100 (default 20).
    pub limit: Option<u32>,
    /// Matches to skip (default 0).
    pub offset: Option<u64>,
    /// Exact username, case-insensitive.
    pub username: Option<String>,
    /// Exact email, case-insensitive.
    pub email: Option<String>,
    /// `user` or `admin`.
    pub role: Option<RoleDto>,
    /// Case-insensitive substring of username, email or name.
    pub q: Option<String>,
    /// `id` (default), `username`, `email`, `created_at`, `updated_at`; a leading `-` sorts descending.
    pub sort: Option<String>,
    /// `active` or `disabled` (a ban whose end has passed counts as active).
    pub status: Option<StatusDto>,
    /// The id of a user of this listing: the page that follows it, at the same cost at any depth. Not with
    /// `offset`.
    pub starting_after: Option<i64>,
}

#[derive(Debug, Serialize, Apiv2Schema)]
pub struct HealthStatus {
    /// `ok`.
    pub status: String,
}

/// `POST /auth/login`: exactly one of `username` and `email`, and the password.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "Login")]
pub struct LoginBody {
    #[serde(default, deserialize_with = "present")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub password: Option<SecretField>,
}

impl LoginBody {
    /// The login name and password, or every problem with them at once.
    pub fn credentials(self) -> Result<(users_domain::auth::LoginName, PasswordAttempt), ApiError> {
        use users_domain::auth::LoginName;
        let mut errors = missing(&[("password", self.password.is_none())]);
        if self.password.as_ref().is_some_and(|p| p.expose().contains('\0')) {
            // No password can have one (sign-up and updates refuse it): say so rather than check a hash.
            errors.push(FieldError::new("password", PasswordError::Nul.to_string()));
        }
        let name = match (self.username, self.email) {
            (Some(username), None) => Some(LoginName::Username(username)),
            (None, Some(email)) => Some(LoginName::Email(email)),
            (both_or_neither, _) => {
                let message = if both_or_neither.is_some() {
                    "send username or email, not both"
                } else {
                    "send username or email"
                };
                errors.extend([FieldError::new("username", message), FieldError::new("email", message)]);
                None
            }
        };
        match (name, self.password) {
            (Some(name), Some(password)) if errors.is_empty() => {
                Ok((name, PasswordAttempt::new(password.into_exposed())))
            }
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "RefreshRequest")]
pub struct RefreshBody {
    pub refresh_token: SecretField,
}

/// A token pair.
#[derive(Debug, Serialize, Apiv2Schema)]
#[openapi(rename = "Tokens")]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: SecretField,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; single use (each refresh returns a new one).
    pub refresh_token: SecretField,
}

impl From<users_domain::auth::TokenPair> for TokenResponse {
    fn from(pair: users_domain::auth::TokenPair) -> Self {
        Self {
            access_token: SecretField::new(pair.access.token),
            token_type: "Bearer".to_owned(),
            expires_in: pair.access.expires_in_secs,
            refresh_token: SecretField::new(pair.refresh_token.expose()),
        }
    }
}

// Import and export (docs/api.md §9): one user per NDJSON line.

/// One line of `POST /users/import`: the fields an export writes (its `id` is reported back as `source_id`, never
/// kept), with either `password` or `password_hash` (`null`: no usable password).
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ImportLineBody {
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::username(v, c))))]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::email(v, c))))]
    pub email: Option<String>,
    #[garde(inner(custom(|v: &String, c| rules::name(v, c))))]
    pub name: Option<String>,
    #[garde(inner(custom(|v: &i64, c| rules::age(v, c))))]
    pub age: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub role: Option<RoleDto>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::timestamp(v, c))))]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &String, c| rules::timestamp(v, c))))]
    pub updated_at: Option<String>,
    /// `active` by default; with `disabled`, `disabled_until` may give the ban's end.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub status: Option<StatusDto>,
    #[serde(default, deserialize_with = "nullable")]
    #[garde(skip)]
    pub disabled_until: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[garde(inner(inner(custom(|v: &String, c| rules::timestamp(v, c)))))]
    pub last_login_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(|v: &SecretField, c| rules::password(v.expose(), c))))]
    pub password: Option<SecretField>,
    #[serde(default, deserialize_with = "nullable")]
    #[garde(skip)]
    pub password_hash: Option<Option<SecretField>>,
    /// The user's id where it came from: reported back as `source_id` (read from the raw line, so even a line
    /// that fails here names it).
    #[allow(dead_code)]
    #[serde(default)]
    #[garde(skip)]
    pub id: Option<serde_json::Value>,
}

impl ImportLineBody {
    /// The line as the domain takes it, or every problem with it at once.
    pub fn into_candidate(self) -> Result<ImportCandidate, Vec<FieldError>> {
        let mut errors = missing(&[("username", self.username.is_none()), ("email", self.email.is_none())]);
        match (&self.password, &self.password_hash) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("password", "send password or password_hash, not both"));
                errors.push(FieldError::new("password_hash", "send password or password_hash, not both"));
            }
            (None, None) => {
                errors.push(FieldError::new("password", "send password or password_hash (null for none)"));
                errors.push(FieldError::new("password_hash", "send password or password_hash (null for none)"));
            }
            _ => {}
        }
        if let Err(ApiError::Validation(broken)) = validate(&self) {
            errors.extend(broken);
        }
        let now = Timestamp::now();
        let until = self.disabled_until.as_ref().map(Option::as_deref);
        // An export taken while a ban ran may be imported after it ended: such a user is active (as a read would
        // say), not a line that fails.
        let ended = until.flatten().and_then(Timestamp::parse_rfc3339).is_some_and(|end| end <= now);
        let (status, until) = if ended { (Some(StatusDto::Active), None) } else { (self.status, until) };
        let status = requested_status(status, until, now).map_err(|e| errors.push(e)).ok().flatten();
        if !errors.is_empty() {
            return Err(errors);
        }
        let parsed = || -> Result<ImportCandidate, ApiError> {
            let (Some(username), Some(email)) = (self.username, self.email) else {
                return Err(ApiError::Internal);
            };
            let password = match (self.password, self.password_hash) {
                (Some(password), None) => ImportedPassword::Plain(checked(Password::parse(password.into_exposed()))?),
                (None, Some(Some(hash))) => ImportedPassword::Hash(hash.into_exposed()),
                (None, Some(None)) => ImportedPassword::Unusable,
                _ => return Err(ApiError::Internal),
            };
            let timestamp = |t: Option<String>| t.map(|t| Timestamp::parse_rfc3339(&t).ok_or(ApiError::Internal));
            Ok(ImportCandidate {
                username: checked(Username::parse(username))?,
                email: checked(Email::parse(email))?,
                name: checked(self.name.as_deref().map(DisplayName::parse).transpose())?,
                age: checked(self.age.map(Age::parse).transpose())?,
                role: self.role.map_or(Role::User, Role::from),
                created_at: timestamp(self.created_at).transpose()?,
                updated_at: timestamp(self.updated_at).transpose()?,
                status: status.unwrap_or(AccountStatus::Active),
                email_verified: self.email_verified.unwrap_or(false),
                last_login_at: timestamp(self.last_login_at.flatten()).transpose()?,
                password,
            })
        };
        parsed().map_err(|_| vec![FieldError::new("line", "could not be read")])
    }
}

/// `GET /users/export` query parameters: the listing's filters (no paging, no sort: by id), and whether to include
/// password hashes.
#[derive(Debug, Default, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Exact username, case-insensitive.
    pub username: Option<String>,
    /// Exact email, case-insensitive.
    pub email: Option<String>,
    /// `user` or `admin`.
    pub role: Option<RoleDto>,
    /// Case-insensitive substring of username, email or name.
    pub q: Option<String>,
    /// `active` or `disabled` (a ban whose end has passed counts as active).
    pub status: Option<StatusDto>,
    /// Include each user's password hash (needs `APP__AUTH__EXPORT_HASHES=true`; else 403).
    pub include_hashes: Option<bool>,
}

impl ExportParams {
    pub fn filter(&self) -> UserFilter {
        UserFilter {
            username: self.username.clone(),
            email: self.email.clone(),
            role: self.role.map(Into::into),
            q: self.q.clone(),
            status: self.status.map(|status| StatusFilter { status: status.into(), at: Timestamp::now() }),
        }
    }
}

/// One line of an export: the user as responses show it, and its password hash when asked for (`null`: no
/// usable password).
#[derive(Serialize)]
pub struct ExportLine {
    #[serde(flatten)]
    pub user: UserResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<Option<String>>,
}

impl ExportLine {
    pub fn new(user: User, include_hash: bool) -> Self {
        let password_hash = include_hash
            .then(|| Some(user.password_hash.as_str().to_owned()).filter(|_| user.password_hash.is_usable()));
        Self { user: user.into(), password_hash }
    }
}

/// One result line of an import.
#[derive(Debug, Serialize)]
pub struct ImportResultLine {
    pub line: u64,
    pub status: ImportStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    Created,
    Failed,
}

/// A live session (docs/api.md §6): one login and its refreshes.
#[derive(Debug, Serialize, Apiv2Schema)]
#[openapi(rename = "Session")]
pub struct SessionResponse {
    /// The session id (the `sid` of its access tokens).
    pub id: String,
    /// RFC 3339, UTC, six fraction digits: the login.
    pub created_at: String,
    /// The last login or refresh.
    pub last_used_at: String,
    /// When its refresh token expires, unless refreshed.
    pub expires_at: String,
    /// The client IP of its last use (null when unknown).
    pub ip: Option<String>,
    /// The `User-Agent` of its last use, at most 256 characters (null when none was sent).
    pub user_agent: Option<String>,
    /// Whether the calling access token belongs to this session.
    pub current: bool,
}

impl SessionResponse {
    pub fn new(session: users_domain::Session, current: Option<&users_domain::SessionId>) -> Self {
        Self {
            current: current == Some(&session.id),
            id: session.id.as_str().to_owned(),
            created_at: session.created_at.to_string(),
            last_used_at: session.last_used_at.to_string(),
            expires_at: session.expires_at.to_string(),
            ip: session.client.ip().map(str::to_owned),
            user_agent: session.client.user_agent().map(str::to_owned),
        }
    }
}

/// What `DELETE /users/{id}/sessions` leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "lowercase")]
pub enum ExceptDto {
    /// The calling token's session.
    Current,
}

/// `DELETE /users/{id}/sessions` query parameters.
#[derive(Debug, Default, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionsParams {
    /// `current`: keep the calling token's session.
    pub except: Option<ExceptDto>,
}
