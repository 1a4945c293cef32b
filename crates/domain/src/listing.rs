//! What a listing asks for (filters, sort, page) and what it returns.

use crate::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PAGE_LIMIT_MIN};
use crate::{Role, Timestamp, User, UserStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Username,
    Email,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [Self::Id, Self::Username, Self::Email, Self::CreatedAt, Self::UpdatedAt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Username => "username",
            Self::Email => "email",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Ascending,
    Descending,
}

/// Filters of a listing; all present ones must match. Comparisons are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilter {
    /// Exact username, compared case-insensitively. Kept as given: a filter value need not be a valid username.
    pub username: Option<String>,
    /// Exact email, compared case-insensitively.
    pub email: Option<String>,
    pub role: Option<Role>,
    /// Substring of username, email or name, case-insensitive; `%` and `_` are literal.
    pub q: Option<String>,
    pub status: Option<StatusFilter>,
}

/// The users whose status is `status` at `at`: a ban whose end has passed counts as active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter {
    pub status: UserStatus,
    pub at: Timestamp,
}

impl UserFilter {
    /// Whether any user can match: no stored username, email or name contains a NUL (a character PostgreSQL
    /// cannot even compare), so a filter with one matches nothing.
    pub fn can_match(&self) -> bool {
        [&self.username, &self.email, &self.q].into_iter().flatten().all(|value| !value.contains('\0'))
    }

    /// Whether `user` matches: the reference semantics every repository must reproduce.
    pub fn matches(&self, user: &User) -> bool {
        let username_ok = self.username.as_ref().is_none_or(|u| user.username.folded() == fold_case(u));
        let email_ok = self.email.as_ref().is_none_or(|e| user.email.as_str() == fold_case(e));
        let role_ok = self.role.is_none_or(|r| user.role == r);
        let q_ok = self.q.as_ref().is_none_or(|q| {
            let q = fold_case(q);
            user.username.folded().contains(&q)
                || user.email.as_str().contains(&q)
                || user.name.as_ref().is_some_and(|n| n.folded().contains(&q))
        });
        let status_ok = self.status.is_none_or(|s| user.status.at(s.at).kind() == s.status);
        username_ok && email_ok && role_ok && q_ok && status_ok
    }
}

/// Lower-cases `text` for case-insensitive comparison, the same way on every backend: Rust's `to_lowercase`
/// (final sigma included), except that a non-ASCII character is never turned into ASCII. `to_lowercase` maps
/// U+212A KELVIN SIGN to `k`, which would let `Kelvin` written with it match, or log in as, the ASCII `kelvin`
/// that sign-up accepted; such a character stays as it is. Text without one folds exactly as `to_lowercase`
/// does, so the `name_lower` values stored before this rule still compare alike.
pub fn fold_case(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, kept)) =
        rest.char_indices().find(|(_, c)| !c.is_ascii() && c.to_lowercase().any(|l| l.is_ascii()))
    {
        folded.push_str(&rest[..at].to_lowercase());
        folded.push(kept);
        rest = &rest[at + kept.len_utf8()..];
    }
    folded.push_str(&rest.to_lowercase());
    folded
}

#[cfg(test)]
mod tests {
    use super::fold_case;

    #[test]
    fn folding_lowers_letters_but_never_maps_a_non_ascii_character_to_ascii() {
        assert_eq!(fold_case("AliCE_1"), "alice_1");
        assert_eq!(fold_case("ÉLODIE Straße"), "élodie straße");
        assert_eq!(fold_case("ΣΩΚΡΑΤΗΣ"), "ΣΩΚΡΑΤΗΣ".to_lowercase(), "final sigma as to_lowercase has it");
        assert_eq!(fold_case("\u{212A}ELVIN"), "\u{212A}elvin", "KELVIN SIGN stays");
        assert_eq!(fold_case("\u{0130}STANBUL"), "\u{0130}stanbul", "its lower case holds an ASCII i");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: UserFilter,
    pub sort: SortKey,
    pub direction: SortDirection,
    /// 1–100.
    pub limit: u32,
    pub offset: u64,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filter: UserFilter::default(),
            sort: SortKey::Id,
            direction: SortDirection::Ascending,
            limit: PAGE_LIMIT_DEFAULT,
            offset: 0,
        }
    }
}

impl ListQuery {
    pub fn limit_is_valid(limit: u32) -> bool {
        (PAGE_LIMIT_MIN..=PAGE_LIMIT_MAX).contains(&limit)
    }

    /// Orders two users as this query's sort says, ties broken by id ascending.
    pub fn compare(&self, a: &User, b: &User) -> std::cmp::Ordering {
        let by_key = match self.sort {
            SortKey::Id => a.id.cmp(&b.id),
            SortKey::Username => a.username.folded().cmp(&b.username.folded()),
            SortKey::Email => a.email.as_str().cmp(b.email.as_str()),
            SortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            SortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
        };
        let by_key = match self.direction {
            SortDirection::Ascending => by_key,
            SortDirection::Descending => by_key.reverse(),
        };
        by_key.then(a.id.cmp(&b.id))
    }
}

/// One page of a listing and the number of all matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub users: Vec<User>,
    pub total: u64,
}
