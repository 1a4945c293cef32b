//! A secret in a request or response body (a password, a refresh token, an access token): JSON sees a plain
//! string, the OpenAPI document a `string`, and `Debug` (a logged DTO, a test's failure message) only
//! `<redacted>`.

use paperclip::v2::models::DefaultSchemaRaw;
use paperclip::v2::schema::Apiv2Schema;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct SecretField(String);

impl SecretField {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for SecretField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Apiv2Schema for SecretField {
    fn raw_schema() -> DefaultSchemaRaw {
        String::raw_schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_sees_the_string_and_debug_never_does() {
        let field: SecretField = serde_json::from_str(r#""hunter2hunter2""#).expect("a JSON string");
        assert_eq!(field.expose(), "hunter2hunter2");
        assert_eq!(serde_json::to_string(&field).expect("serializes"), r#""hunter2hunter2""#);
        assert!(!format!("{field:?}").contains("hunter2"));
    }
}
