//! The OpenAPI 3.0 document: paperclip describes the routes from the handlers' types; this module adds what
//! paperclip cannot say (API.md's rules as schema constraints, nullable fields, problem+json errors, headers),
//! from the same constants the domain checks, so the document cannot drift from the code.

use serde_json::{json, Map, Value};
use users_domain::limits::*;
use users_domain::SortKey;

/// Routes served under a second name; the document lists each canonical path once.
pub const ALIASES: &[&str] = &["/users/signup", "/users/login"];

/// Operations anyone may call without a token.
const PUBLIC: &[(&str, &str)] = &[
    ("/users", "post"),
    ("/auth/login", "post"),
    ("/auth/refresh", "post"),
    ("/auth/logout", "post"),
    ("/health", "get"),
    ("/health/ready", "get"),
];

pub fn patch(mut doc: Value) -> Value {
    doc["info"] = json!({
        "title": "users-api",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "User management: sign-up, CRUD and listing of users. Every route is also served under /api.",
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for alias in ALIASES {
            paths.remove(*alias);
        }
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|p| p.values_mut()) {
            errors_as_problems(operation);
        }
    }
    patch_schemas(&mut doc["components"]["schemas"]);
    doc["components"]["securitySchemes"] = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "An access token from POST /auth/login"}
    });
    secure_operations(&mut doc["paths"]);
    patch_listing(&mut doc["paths"]["/users"]["get"]);
    doc["paths"]["/users"]["post"]["responses"]["201"]["headers"] = json!({
        "Location": {"description": "The new user's URL", "schema": {"type": "string"}}
    });
    for method in ["get", "put", "patch", "delete"] {
        if let Some(parameters) = doc["paths"]["/users/{id}"][method]["parameters"].as_array_mut() {
            for parameter in parameters.iter_mut().filter(|p| p["name"] == "id") {
                parameter["schema"] = json!({"type": "integer", "format": "int64", "minimum": 1});
            }
        }
    }
    doc
}

/// The bearer scheme on every protected operation; sign-up takes a token optionally (an admin's may set a role).
fn secure_operations(paths: &mut Value) {
    let Some(paths) = paths.as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            if (path.as_str(), method.as_str()) == ("/users", "post") {
                operation["security"] = json!([{}, {"bearerAuth": []}]);
            } else if !PUBLIC.contains(&(path.as_str(), method.as_str())) {
                operation["security"] = json!([{"bearerAuth": []}]);
            }
        }
    }
}

/// Every 4xx/5xx response is `application/problem+json` with the Problem schema.
fn errors_as_problems(operation: &mut Value) {
    let Some(responses) = operation["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = json!({
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            });
        }
    }
}

fn set(schema: &mut Value, property: &str, constraints: Value) {
    if let (Some(target), Some(extra)) = (schema["properties"][property].as_object_mut(), constraints.as_object()) {
        target.extend(extra.clone());
    }
}

fn user_field_constraints(schema: &mut Value) {
    set(
        schema,
        "username",
        json!({
            "minLength": USERNAME_MIN_CHARS, "maxLength": USERNAME_MAX_CHARS, "pattern": USERNAME_PATTERN
        }),
    );
    set(schema, "email", json!({"format": "email", "maxLength": EMAIL_MAX_CHARS}));
    // name is trimmed before its length counts: any length may be valid, but it must hold a non-space.
    set(schema, "name", json!({"nullable": true, "minLength": NAME_MIN_CHARS, "pattern": "\\S"}));
    set(schema, "age", json!({"nullable": true, "minimum": AGE_MIN, "maximum": AGE_MAX, "format": "int64"}));
}

fn patch_schemas(schemas: &mut Value) {
    // The password rule counts bytes, JSON Schema counts characters: bounds that never refuse a valid value.
    let password = json!({"minLength": PASSWORD_MIN_BYTES / 4, "maxLength": PASSWORD_MAX_BYTES, "writeOnly": true});
    for name in ["NewUser", "UserUpdate"] {
        let schema = &mut schemas[name];
        user_field_constraints(schema);
        set(schema, "password", password.clone());
        schema["additionalProperties"] = json!(false);
    }
    set(&mut schemas["UserUpdate"], "current_password", json!({"writeOnly": true}));
    let user = &mut schemas["User"];
    user_field_constraints(user);
    for stamp in ["created_at", "updated_at"] {
        set(user, stamp, json!({"format": "date-time"}));
    }
    set(user, "id", json!({"minimum": 1}));
    schemas["Problem"] = problem_schema();
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "One of the /problems/… types"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                }
            },
            "request_id": {"type": "string"}
        }
    })
}

fn patch_listing(operation: &mut Value) {
    let sort_values: Vec<String> =
        SortKey::ALL.iter().flat_map(|k| [k.as_str().to_owned(), format!("-{}", k.as_str())]).collect();
    let mut constraints = Map::new();
    constraints.insert(
        "limit".into(),
        json!({"type": "integer", "minimum": PAGE_LIMIT_MIN, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT}),
    );
    constraints.insert("offset".into(), json!({"type": "integer", "format": "int64", "minimum": 0, "default": 0}));
    constraints.insert("sort".into(), json!({"type": "string", "enum": sort_values, "default": "id"}));
    if let Some(parameters) = operation["parameters"].as_array_mut() {
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap_or_default().to_owned();
            if let Some(schema) = constraints.get(&name) {
                parameter["schema"] = schema.clone();
            }
        }
    }
    operation["responses"]["200"]["headers"] = json!({
        "X-Total-Count": {"description": "All matches, ignoring limit and offset", "schema": {"type": "integer"}},
        "Link": {"description": "RFC 8288 links: first, prev, next, last", "schema": {"type": "string"}}
    });
}
