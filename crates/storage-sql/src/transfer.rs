//! Users in bulk (docs/api.md §9): an import batch is one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`
//! in a transaction (one round trip for up to a few hundred users, on both databases), and an export reads keyset
//! pages by id, so neither holds more than a batch.

use crate::errors::StatementContext as _;
use crate::rows::{age_column, status_column, TimeColumn, UserRow};
use crate::store::{for_every_dialect, into_user};
use crate::{push_filter, storage_error, user_columns, Dialect, SqlStore};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use std::collections::HashSet;
use users_domain::ports::{ImportedUser, RepositoryError, StoredImport, UserTransfer};
use users_domain::{DisplayName, ListQuery, User, UserFilter, UserId};

for_every_dialect! {
    #[async_trait]
    impl UserTransfer for SqlStore {
        async fn import_users(&self, users: Vec<ImportedUser>) -> Result<Vec<StoredImport>, RepositoryError> {
            if users.is_empty() {
                return Ok(Vec::new());
            }
            let _turn = self.dialect.write_turn().await?;
            let mut insert = QueryBuilder::<D::Database>::new(
                "INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, \
                 created_at, updated_at, status, disabled_until, email_verified, last_login_at) ",
            );
            insert.push_values(&users, |mut row, imported| {
                let user = &imported.user;
                row.push_bind(user.username.as_str().to_owned())
                    .push_bind(user.username.folded())
                    .push_bind(user.email.as_str().to_owned())
                    .push_bind(user.name.as_ref().map(|n| n.as_str().to_owned()))
                    .push_bind(user.name.as_ref().map(DisplayName::folded))
                    .push_bind(user.age.map(age_column))
                    .push_bind(user.role.as_str().to_owned())
                    .push_bind(user.password_hash.as_str().to_owned())
                    .push_bind(D::Time::from_timestamp(user.created_at))
                    .push_bind(D::Time::from_timestamp(imported.updated_at))
                    .push_bind(status_column(user.status))
                    .push_bind(user.status.disabled_until().map(D::Time::from_timestamp))
                    .push_bind(user.email_verified)
                    .push_bind(imported.last_login_at.map(D::Time::from_timestamp));
            });
            // A row whose username or email is taken is skipped, not an error: the others of the batch still land.
            insert.push(" ON CONFLICT DO NOTHING RETURNING id, username_lower");
            let folded: Vec<String> = users.iter().map(|u| u.user.username.folded()).collect();
            let (created, taken_usernames): (Vec<(i64, String)>, Vec<String>) = self
                .connections
                .transaction(async |c| {
                    let created: Vec<(i64, String)> =
                        insert.build_query_as().fetch_all(&mut *c).await.step("insert the imported users")?;
                    let inserted: HashSet<&str> = created.iter().map(|(_, name)| name.as_str()).collect();
                    let skipped: Vec<&String> = folded.iter().filter(|name| !inserted.contains(name.as_str())).collect();
                    if skipped.is_empty() {
                        return Ok((created, Vec::new()));
                    }
                    // Of the rows skipped, those whose username now exists clashed on it; the others on the email.
                    let mut taken = QueryBuilder::<D::Database>::new("SELECT username_lower FROM users WHERE username_lower IN (");
                    let mut names = taken.separated(", ");
                    for name in skipped {
                        names.push_bind(name.clone());
                    }
                    names.push_unseparated(")");
                    let taken: Vec<String> =
                        taken.build_query_scalar().fetch_all(c).await.step("look for the taken usernames")?;
                    Ok((created, taken))
                })
                .await
                .map_err(storage_error)?;
            let created: std::collections::HashMap<String, i64> =
                created.into_iter().map(|(id, name)| (name, id)).collect();
            let taken: HashSet<String> = taken_usernames.into_iter().collect();
            folded
                .into_iter()
                .map(|name| match created.get(&name) {
                    Some(id) => UserId::new(*id).map(StoredImport::Created).map_err(|e| RepositoryError::Unexpected(e.into())),
                    None if taken.contains(&name) => Ok(StoredImport::UsernameTaken),
                    None => Ok(StoredImport::EmailTaken),
                })
                .collect()
        }

        async fn export_users(
            &self,
            filter: &UserFilter,
            after: Option<UserId>,
            limit: u32,
        ) -> Result<Vec<User>, RepositoryError> {
            if !filter.can_match() {
                return Ok(Vec::new());
            }
            let query = ListQuery { filter: filter.clone(), ..ListQuery::default() };
            let mut page = QueryBuilder::<D::Database>::new(concat!("SELECT ", user_columns!(), " FROM users"));
            // No trigram search for `q`: each page would run it again, O(matches) per page; walking the ids with
            // the filter costs O(users) for the whole export.
            push_filter::<D::Database, D::Time>(&mut page, &query, None);
            page.push(" AND id > ").push_bind(after.map_or(0, UserId::get));
            page.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            let rows: Vec<UserRow<D::Time>> = self
                .connections
                .run(async |c| page.build_query_as().fetch_all(c).await.step("read a page of the export"))
                .await
                .map_err(storage_error)?;
            rows.into_iter().map(into_user).collect()
        }
    }
}
