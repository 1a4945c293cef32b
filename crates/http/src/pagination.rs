//! The listing's query → domain query, and the RFC 8288 `Link` header of docs/api.md §3.

use crate::dto::ListParams;
use crate::problem::{ApiError, FieldError};
use users_domain::{ListQuery, SortDirection, SortKey, StatusFilter, Timestamp, UserFilter, UserStatus};

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
        })
    }

    /// `first`, `prev`, `next`, `last` links as relative URLs on `path`, keeping every filter and the sort;
    /// none at all when nothing matches.
    pub fn link_header(&self, path: &str, query: &ListQuery, total: u64) -> Option<String> {
        if total == 0 {
            return None;
        }
        let limit = u64::from(query.limit);
        let offset = query.offset;
        let mut links = vec![(0, "first")];
        if offset > 0 {
            links.push((offset.saturating_sub(limit), "prev"));
        }
        if offset.saturating_add(limit) < total {
            links.push((offset + limit, "next"));
        }
        links.push(((total - 1) / limit * limit, "last"));
        let rendered: Vec<String> =
            links.into_iter().map(|(at, rel)| format!("<{}>; rel=\"{rel}\"", self.url(path, limit, at))).collect();
        Some(rendered.join(", "))
    }

    fn url(&self, path: &str, limit: u64, offset: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &offset.to_string());
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
        params.link_header("/users", &query, total)
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
