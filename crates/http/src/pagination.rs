//! The listing's query → domain query, and the RFC 8288 `Link` header of docs/api.md §3.

use crate::dto::ListParams;
use crate::problem::{ApiError, FieldError};
use users_domain::{ListQuery, SortDirection, SortKey, StatusFilter, Timestamp, UserFilter, UserId, UserStatus};

/// Where a linked page starts.
enum Start {
    Offset(u64),
    /// The listing's beginning, in the mode of neither (the first page, whichever way the client pages on).
    Beginning,
    After(UserId),
}

impl ListParams {
    /// Checks the ranges and the sort key; reports every bad parameter at once.
    pub fn to_query(&self) -> Result<ListQuery, ApiError> {
        let mut errors = Vec::new();
        let defaults = ListQuery::default();
        let limit = self.limit.unwrap_or(defaults.limit);
        if !ListQuery::limit_is_valid(limit) {
            errors.push(FieldError::new("limit", "must be between 1 and 100"));
        }
        let (sort, direction) = match self.sort.as_deref().map(parse_sort).transpose() {
            Ok(sort) => sort.unwrap_or((defaults.sort, defaults.direction)),
            Err(e) => {
                errors.push(e);
                (defaults.sort, defaults.direction)
            }
        };
        let starting_after = match self.starting_after.map(UserId::new).transpose() {
            Ok(_) if self.starting_after.is_some() && self.offset.is_some() => {
                errors.push(FieldError::new("starting_after", "cannot be combined with offset"));
                None
            }
            Ok(id) => id,
            Err(_) => {
                errors.push(FieldError::new("starting_after", "must be a positive integer (a user id)"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(ListQuery {
            filter: UserFilter {
                username: self.username.clone(),
                email: self.email.clone(),
                role: self.role.map(Into::into),
                q: self.q.clone(),
                status: self.status.map(|status| StatusFilter { status: status.into(), at: Timestamp::now() }),
            },
            sort,
            direction,
            limit,
            offset: self.offset.unwrap_or(0),
            starting_after,
        })
    }

    /// `first`, `prev`, `next`, `last` links as relative URLs on `path`, keeping every filter and the sort;
    /// none at all when nothing matches. A page reached with `starting_after` links `first` (the listing's
    /// beginning) and, when more follow, `next` (after `next_after`, this page's last user) only: its position
    /// is not known, and finding it would cost what the cursor saves.
    pub fn link_header(&self, path: &str, query: &ListQuery, total: u64, next_after: Option<UserId>) -> Option<String> {
        if total == 0 {
            return None;
        }
        let limit = u64::from(query.limit);
        let links = match query.starting_after {
            Some(_) => {
                let next = next_after.map(|last| (Start::After(last), "next"));
                [(Start::Beginning, "first")].into_iter().chain(next).collect()
            }
            None => {
                let offset = query.offset;
                let mut links = vec![(Start::Offset(0), "first")];
                if offset > 0 {
                    links.push((Start::Offset(offset.saturating_sub(limit)), "prev"));
                }
                if offset.saturating_add(limit) < total {
                    links.push((Start::Offset(offset + limit), "next"));
                }
                links.push((Start::Offset((total - 1) / limit * limit), "last"));
                links
            }
        };
        let rendered: Vec<String> =
            links.into_iter().map(|(at, rel)| format!("<{}>; rel=\"{rel}\"", self.url(path, limit, at))).collect();
        Some(rendered.join(", "))
    }

    fn url(&self, path: &str, limit: u64, start: Start) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &limit.to_string());
        match start {
            Start::Offset(offset) => {
                query.append_pair("offset", &offset.to_string());
            }
            Start::Beginning => {}
            Start::After(id) => {
                query.append_pair("starting_after", &id.to_string());
            }
        }
        let filters = [
            ("username", self.username.as_deref()),
            ("email", self.email.as_deref()),
            ("role", self.role.map(|r| users_domain::Role::from(r).as_str())),
            ("q", self.q.as_deref()),
            ("sort", self.sort.as_deref()),
            ("status", self.status.map(|s| UserStatus::from(s).as_str())),
        ];
        for (name, value) in filters {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        format!("{path}?{}", query.finish())
    }
}

fn parse_sort(sort: &str) -> Result<(SortKey, SortDirection), FieldError> {
    let (direction, key) = match sort.strip_prefix('-') {
        Some(key) => (SortDirection::Descending, key),
        None => (SortDirection::Ascending, sort),
    };
    SortKey::ALL.into_iter().find(|k| k.as_str() == key).map(|k| (k, direction)).ok_or_else(|| {
        FieldError::new(
            "sort",
            "must be one of id, username, email, created_at, updated_at, optionally with a leading '-'",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(params: ListParams, total: u64) -> Option<String> {
        let query = params.to_query().expect("valid");
        params.link_header("/users", &query, total, None)
    }

    #[test]
    fn a_page_after_a_user_links_first_and_next_only() {
        let params = ListParams {
            limit: Some(2),
            starting_after: Some(5),
            sort: Some("-email".into()),
            ..ListParams::default()
        };
        let query = params.to_query().expect("valid");
        let next = UserId::new(9).ok();
        assert_eq!(
            params.link_header("/users", &query, 25, next).as_deref(),
            Some(concat!(
                r#"</users?limit=2&sort=-email>; rel="first", "#,
                r#"</users?limit=2&starting_after=9&sort=-email>; rel="next""#
            ))
        );
        assert_eq!(
            params.link_header("/users", &query, 25, None).as_deref(),
            Some(r#"</users?limit=2&sort=-email>; rel="first""#),
            "the last page"
        );
    }

    #[test]
    fn starting_after_is_a_positive_id_and_not_with_offset() {
        for (params, message) in [
            (ListParams { starting_after: Some(0), ..ListParams::default() }, "must be a positive integer (a user id)"),
            (
                ListParams { starting_after: Some(-3), ..ListParams::default() },
                "must be a positive integer (a user id)",
            ),
            (
                ListParams { starting_after: Some(3), offset: Some(0), ..ListParams::default() },
                "cannot be combined with offset",
            ),
        ] {
            match params.to_query() {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors, vec![FieldError::new("starting_after", message)]);
                }
                other => panic!("{params:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn first_middle_last_and_empty_pages() {
        let page = |offset| ListParams { limit: Some(10), offset: Some(offset), ..ListParams::default() };
        assert_eq!(
            links(page(0), 25).as_deref(),
            Some(concat!(
                r#"</users?limit=10&offset=0>; rel="first", "#,
                r#"</users?limit=10&offset=10>; rel="next", "#,
                r#"</users?limit=10&offset=20>; rel="last""#
            ))
        );
        assert_eq!(
            links(page(15), 25).as_deref(),
            Some(concat!(
                r#"</users?limit=10&offset=0>; rel="first", "#,
                r#"</users?limit=10&offset=5>; rel="prev", "#,
                r#"</users?limit=10&offset=20>; rel="last""#
            ))
        );
        assert_eq!(links(page(0), 0), None);
    }

    #[test]
    fn links_keep_filters_and_sort_encoded() {
        let params = ListParams {
            q: Some("a b&c".into()),
            role: Some(crate::dto::RoleDto::Admin),
            sort: Some("-email".into()),
            ..ListParams::default()
        };
        assert_eq!(
            links(params, 1).as_deref(),
            Some(concat!(
                r#"</users?limit=20&offset=0&role=admin&q=a+b%26c&sort=-email>; rel="first", "#,
                r#"</users?limit=20&offset=0&role=admin&q=a+b%26c&sort=-email>; rel="last""#
            ))
        );
    }
}
