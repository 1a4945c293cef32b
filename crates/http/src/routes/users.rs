//! The `/users` routes of API.md §3.

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
/// Sign-up: anyone may create a user. Only an admin may send `role`.
#[api_v2_operation(tags(Users), operation_id = "createUser")]
pub async fn create_user(
    req: HttpRequest,
    users: Data<UserService>,
    body: JsonBody<CreateUserBody>,
) -> Result<Created<UserResponse>, ApiError> {
    let user = users.create(body.0.into_request()?).await?;
    let location = format!("{}/users/{}", RequestPath::of(&req).prefix(), user.id);
    Ok(Created {
        body: user.into(),
        location,
    })
}

/// List users
///
/// One page of the users matching every filter given, with `X-Total-Count` and an RFC 8288 `Link` header.
#[api_v2_operation(tags(Users), operation_id = "listUsers")]
pub async fn list_users(
    req: HttpRequest,
    users: Data<UserService>,
    params: QueryParams<ListParams>,
) -> Result<Listed<UserResponse>, ApiError> {
    let params = params.0;
    let query = params.to_query()?;
    let page = users.list(&query).await?;
    let link = params.link_header(&RequestPath::of(&req).original, &query, page.total);
    Ok(Listed {
        items: page.users.into_iter().map(UserResponse::from).collect(),
        total: page.total,
        link,
    })
}

/// Get a user
#[api_v2_operation(tags(Users), operation_id = "getUser")]
pub async fn get_user(
    users: Data<UserService>,
    id: UserIdParam,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(users.get(id.0).await?.into()))
}

/// Update a user
///
/// Any subset of the fields; `null` clears `name` or `age`. PUT and PATCH behave alike. An update that changes
/// nothing leaves `updated_at` as it was.
#[api_v2_operation(tags(Users), operation_id = "updateUser")]
pub async fn update_user(
    users: Data<UserService>,
    id: UserIdParam,
    body: JsonBody<UpdateUserBody>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = body.0.into_changes()?;
    Ok(Json(users.update(id.0, changes).await?.into()))
}

/// Delete a user
#[api_v2_operation(tags(Users), operation_id = "deleteUser")]
pub async fn delete_user(users: Data<UserService>, id: UserIdParam) -> Result<NoContent, ApiError> {
    users.delete(id.0).await?;
    Ok(NoContent)
}
