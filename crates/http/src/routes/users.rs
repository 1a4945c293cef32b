//! The `/users` routes of docs/api.md §3.

use crate::authentication::{Authenticated, MaybeAuthenticated, VerifiedToken};
use crate::client_limits::ClientLimits;
use crate::dto::{CreateUserBody, ListParams, UpdateUserBody, UserResponse};
use crate::extract::{JsonBody, QueryParams, UserIdParam};
use crate::hashing_queue::{HashClass, HashingClient};
use crate::middleware::RequestPath;
use crate::problem::ApiError;
use crate::responses::{Created, Listed};

// Every request-shape extractor below comes as a `Result`, unwrapped in the body: actix runs a handler's extractors
// together, and docs/api.md §4 wants authentication (401) decided before the shape (400, 413, 415).
use actix_web::HttpRequest;
use paperclip::actix::web::{Data, Json};
use paperclip::actix::{api_v2_operation, NoContent};
use users_domain::auth::{AuthService, Caller};
use users_domain::UserService;

/// Create a user
///
/// Sign-up: anyone may create a user. Only an admin's token may send `role`. Sign-ups (creates that are not an
/// admin's) are limited per client IP.
#[api_v2_operation(tags(Users), operation_id = "createUser")]
pub async fn create_user(
    req: HttpRequest,
    caller: MaybeAuthenticated,
    users: Data<UserService>,
    limits: Data<ClientLimits>,
    hashing: HashingClient,
    mail: Data<crate::routes::mail::MailRoutes>,
    body: Result<JsonBody<CreateUserBody>, ApiError>,
) -> Result<Created<UserResponse>, ApiError> {
    let caller = caller.0;
    if !caller.as_ref().is_some_and(Caller::is_admin) {
        limits.check_signup(&req)?;
    }
    let mut body = body?.0;
    // An admin may leave out the password when mail is on: the user is invited (docs/api.md §7).
    let invite = mail.invites(caller.as_ref(), &body);
    if invite {
        body.password = Some(mail.unknown_password()?);
    }
    let request = body.into_request()?;
    let _turn = hashing.turn(HashClass::Other).await?;
    let user = users.create(caller.as_ref(), request).await?;
    mail.user_created(&user, invite).await;
    let location = format!("{}/users/{}", RequestPath::of(&req).prefix(), user.id);
    Ok(Created { body: user.into(), location })
}

/// List users
///
/// Admins only. One page of the users matching every filter given, with `X-Total-Count` and an RFC 8288 `Link`
/// header. `starting_after` (a user id of this listing) pages at the same cost at any depth; `offset` costs
/// O(offset).
#[api_v2_operation(tags(Users), operation_id = "listUsers")]
pub async fn list_users(
    req: HttpRequest,
    caller: Authenticated,
    users: Data<UserService>,
    params: Result<QueryParams<ListParams>, ApiError>,
) -> Result<Listed<UserResponse>, ApiError> {
    let params = params?.0;
    let query = params.to_query()?;
    let page = users.list(&caller.0, &query).await?;
    let next_after = page.users.last().filter(|_| page.has_more).map(|last| last.id);
    let link = params.link_header(&RequestPath::of(&req).original, &query, page.total, next_after);
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
    auth: Data<AuthService>,
    users: Data<UserService>,
    id: Result<UserIdParam, ApiError>,
) -> Result<Json<UserResponse>, ApiError> {
    let id = match id {
        Ok(id) => id.0,
        Err(bad_id) => {
            // The token's user must still exist before the bad id is reported.
            auth.caller(&token.0).await?;
            return Err(bad_id);
        }
    };
    Ok(Json(users.get_as(&token.0, id).await?.into()))
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
    hashing: HashingClient,
    mail: Data<crate::routes::mail::MailRoutes>,
    id: Result<UserIdParam, ApiError>,
    body: Result<JsonBody<UpdateUserBody>, ApiError>,
) -> Result<Json<UserResponse>, ApiError> {
    let id = id?.0;
    let changes = body?.0.into_changes()?;
    // The address before the update, to tell it when it changes (with mail on).
    let old_email = match (&changes.email, mail.is_on()) {
        (Some(_), true) if caller.0.id() == id => Some(caller.0.user.email.clone()),
        (Some(_), true) => users.get(&caller.0, id).await.ok().map(|u| u.email),
        _ => None,
    };
    // Only a password change hashes.
    let _turn = if changes.password.is_some() || changes.current_password.is_some() {
        hashing.turn(HashClass::Other).await?
    } else {
        None
    };
    let user = users.update(&caller.0, id, changes).await?;
    if let Some(old_email) = old_email.filter(|old| *old != user.email) {
        mail.email_changed(&user, old_email).await;
    }
    Ok(Json(user.into()))
}

/// Delete a user
///
/// The user themself, or an admin. The last admin cannot be deleted.
#[api_v2_operation(tags(Users), operation_id = "deleteUser")]
pub async fn delete_user(
    caller: Authenticated,
    users: Data<UserService>,
    id: Result<UserIdParam, ApiError>,
) -> Result<NoContent, ApiError> {
    users.delete(&caller.0, id?.0).await?;
    Ok(NoContent)
}

/// Clear a user's lockout
///
/// Admins only. Forgets the failed logins of the user's username and email, so the next login is judged afresh.
#[api_v2_operation(tags(Users), operation_id = "clearLockout")]
pub async fn clear_lockout(
    caller: Authenticated,
    users: Data<UserService>,
    id: Result<UserIdParam, ApiError>,
) -> Result<NoContent, ApiError> {
    users.unlock(&caller.0, id?.0).await?;
    Ok(NoContent)
}
