//! The `/users` routes of API.md §3.

use crate::authentication::{Authenticated, MaybeAuthenticated, VerifiedToken};
use crate::dto::{CreateUserBody, ListParams, UpdateUserBody, UserResponse};
use crate::extract::{JsonBody, QueryParams, UserIdParam};
use crate::middleware::RequestPath;
use crate::problem::ApiError;
use crate::responses::{Created, Listed};
use actix_web::HttpRequest;
use paperclip::actix::web::{Data, Json};
use paperclip::actix::{api_v2_operation, NoContent};
use users_domain::UserService;

/// Create a user
///
/// Sign-up: anyone may create a user. Only an admin's token may send `role`.
#[api_v2_operation(tags(Users), operation_id = "createUser")]
pub async fn create_user(
    req: HttpRequest,
    caller: MaybeAuthenticated,
    users: Data<UserService>,
    body: JsonBody<CreateUserBody>,
) -> Result<Created<UserResponse>, ApiError> {
    let user = users.create(caller.0.as_ref(), body.0.into_request()?).await?;
    let location = format!("{}/users/{}", RequestPath::of(&req).prefix(), user.id);
    Ok(Created { body: user.into(), location })
}

/// List users
///
/// Admins only. One page of the users matching every filter given, with `X-Total-Count` and an RFC 8288 `Link`
/// header.
#[api_v2_operation(tags(Users), operation_id = "listUsers")]
pub async fn list_users(
    req: HttpRequest,
    caller: Authenticated,
    users: Data<UserService>,
    params: QueryParams<ListParams>,
) -> Result<Listed<UserResponse>, ApiError> {
    let params = params.0;
    let query = params.to_query()?;
    let page = users.list(&caller.0, &query).await?;
    let link = params.link_header(&RequestPath::of(&req).original, &query, page.total);
    Ok(Listed { items: page.users.into_iter().map(UserResponse::from).collect(), total: page.total, link })
}

/// The caller
#[api_v2_operation(tags(Users), operation_id = "getMe")]
pub async fn get_me(caller: Authenticated) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(caller.0.user.into()))
}

/// Get a user
///
/// The user themself, or an admin.
#[api_v2_operation(tags(Users), operation_id = "getUser")]
pub async fn get_user(
    token: VerifiedToken,
    users: Data<UserService>,
    id: UserIdParam,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(users.get_as(&token.0, id.0).await?.into()))
}

/// Update a user
///
/// The user themself, or an admin. Any subset of the fields; `null` clears `name` or `age`. PUT and PATCH behave
/// alike. Changing one's own password needs `current_password`. An update that changes nothing leaves
/// `updated_at` as it was.
#[api_v2_operation(tags(Users), operation_id = "updateUser")]
pub async fn update_user(
    caller: Authenticated,
    users: Data<UserService>,
    id: UserIdParam,
    body: JsonBody<UpdateUserBody>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = body.0.into_changes()?;
    Ok(Json(users.update(&caller.0, id.0, changes).await?.into()))
}

/// Delete a user
///
/// The user themself, or an admin. The last admin cannot be deleted.
#[api_v2_operation(tags(Users), operation_id = "deleteUser")]
pub async fn delete_user(
    caller: Authenticated,
    users: Data<UserService>,
    id: UserIdParam,
) -> Result<NoContent, ApiError> {
    users.delete(&caller.0, id.0).await?;
    Ok(NoContent)
}
