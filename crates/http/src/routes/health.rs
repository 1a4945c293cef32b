//! Liveness and readiness (docs/api.md §3).

use crate::dto::HealthStatus;
use crate::problem::ApiError;
use crate::Readiness;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{Data, Json};
use std::sync::Arc;
use users_domain::ports::StorageOperations;

fn ok() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok".to_owned() })
}

/// Liveness
///
/// 200 while the process runs.
#[api_v2_operation(tags(Health), operation_id = "health")]
pub async fn health() -> Result<Json<HealthStatus>, ApiError> {
    Ok(ok())
}

/// Readiness
///
/// 200 when storage answers; 503 when it does not, or while the service shuts down.
#[api_v2_operation(tags(Health), operation_id = "ready")]
pub async fn ready(
    storage: Data<Arc<dyn StorageOperations>>,
    readiness: Data<Readiness>,
) -> Result<Json<HealthStatus>, ApiError> {
    if readiness.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    storage.ping().await?;
    Ok(ok())
}
