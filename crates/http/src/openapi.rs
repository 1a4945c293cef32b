//! The OpenAPI 3.0 document: paperclip describes the routes from the handlers' types; this module adds what
//! paperclip cannot say (docs/api.md's rules as schema constraints, nullable fields, problem+json errors, headers),
//! from the same constants the domain checks, so the document cannot drift from the code.

use serde_json::{json, Map, Value};
use users_domain::limits::*;
use users_domain::{SortKey, UserStatus};

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
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/docs", "get"),
    ("/.well-known/jwks.json", "get"),
    ("/auth/password-reset", "post"),
    ("/auth/password-reset/confirm", "post"),
    ("/auth/verify-email", "post"),
    ("/auth/verify-email/resend", "post"),
];

/// PUT and PATCH share a handler, so paperclip gives both its operation id; generators need one id per
/// operation (a client generated with a duplicate id silently lacks one of them).
const PUT_USER_OPERATION_ID: &str = "putUser";

pub fn patch(mut doc: Value) -> Value {
    doc["info"] = json!({
        "title": "users-api",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "User management: sign-up, CRUD and listing of users. Every route is also served under /api.",
    });
    // Relative URLs: the document is served by the service it describes, wherever that runs.
    doc["servers"] = json!([
        {"url": "/", "description": "This service"},
        {"url": "/api", "description": "The same routes under the /api prefix"},
    ]);
    doc["tags"] = json!([
        {"name": "Users", "description": "Sign-up, the caller, and users by id; listing for admins"},
        {"name": "Auth", "description": "Login, token refresh and logout (these ignore the Authorization header)"},
        {"name": "Sessions", "description": "A user's sessions (one per login, through its refreshes); revoking them"},
        {"name": "Health", "description": "Liveness and readiness probes"},
        {"name": "Operations", "description": "Metrics, this document and Swagger UI"},
    ]);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for alias in ALIASES {
            paths.remove(*alias);
        }
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                errors_as_problems(operation, errors_of(path, method));
            }
        }
        add_plain_routes(paths);
    }
    patch_schemas(&mut doc["components"]["schemas"]);
    doc["components"]["securitySchemes"] = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "An access token from POST /auth/login"}
    });
    secure_operations(&mut doc["paths"]);
    patch_listing(&mut doc["paths"]["/users"]["get"]);
    patch_auth_errors(&mut doc["paths"]);
    let put_user = &mut doc["paths"]["/users/{id}"]["put"];
    if put_user.is_object() {
        put_user["operationId"] = json!(PUT_USER_OPERATION_ID);
        put_user["summary"] = json!("Update a user (PUT)");
    }
    describe_if_missing(&mut doc["paths"]["/users/me"]["get"], "The user the access token belongs to.");
    doc["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]["headers"] = json!({
        "Cache-Control": {"description": "`public, max-age=N`: N is the publish delay of a new key",
                          "schema": {"type": "string"}}
    });
    let login_forbidden = &mut doc["paths"]["/auth/login"]["post"]["responses"]["403"];
    if login_forbidden.is_object() {
        login_forbidden["description"] =
            json!("The right password for a disabled account (/problems/account-disabled)");
    }
    if let Some(parameters) = doc["paths"]["/users/{id}/lockout"]["delete"]["parameters"].as_array_mut() {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "id") {
            parameter["schema"] = json!({"type": "integer", "format": "int64", "minimum": 1});
        }
    }
    patch_transfer(&mut doc);
    doc["paths"]["/users"]["post"]["responses"]["201"]["headers"] = json!({
        "Location": {"description": "The new user's URL", "schema": {"type": "string"}}
    });
    // Stateful links: what a client (or a fuzzer) does next with the created user.
    let by_id = json!({"id": "$response.body#/id"});
    doc["paths"]["/users"]["post"]["responses"]["201"]["links"] = json!({
        "GetUser": {"operationId": "getUser", "parameters": by_id},
        "UpdateUser": {"operationId": "updateUser", "parameters": by_id},
        "PutUser": {"operationId": PUT_USER_OPERATION_ID, "parameters": by_id},
        "DeleteUser": {"operationId": "deleteUser", "parameters": by_id},
    });
    for method in ["get", "put", "patch", "delete"] {
        if let Some(parameters) = doc["paths"]["/users/{id}"][method]["parameters"].as_array_mut() {
            for parameter in parameters.iter_mut().filter(|p| p["name"] == "id") {
                parameter["schema"] = json!({"type": "integer", "format": "int64", "minimum": 1});
            }
        }
    }
    patch_sessions(&mut doc["paths"]);
    doc
}

/// The session routes' path parameters: the user id as on `/users/{id}`, the session id's shape.
fn patch_sessions(paths: &mut Value) {
    for (path, method) in
        [("/users/{id}/sessions", "get"), ("/users/{id}/sessions", "delete"), ("/users/{id}/sessions/{sid}", "delete")]
    {
        let Some(parameters) = paths[path][method]["parameters"].as_array_mut() else { continue };
        for parameter in parameters.iter_mut() {
            if parameter["name"] == "id" {
                parameter["schema"] = json!({"type": "integer", "format": "int64", "minimum": 1});
            } else if parameter["name"] == "sid" {
                parameter["schema"] = json!({"type": "string", "minLength": 1,
                    "maxLength": users_domain::SessionId::MAX_LENGTH, "pattern": "^[A-Za-z0-9_-]+$"});
            }
        }
    }
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

fn describe_if_missing(operation: &mut Value, description: &str) {
    if operation.is_object() && operation.get("description").and_then(Value::as_str).unwrap_or_default().is_empty() {
        operation["description"] = json!(description);
    }
}

/// The `/auth` routes take no access token: their 401 is about the credentials or the refresh token they carry.
fn patch_auth_errors(paths: &mut Value) {
    for (path, description) in [
        ("/auth/login", "Invalid credentials: an unknown user and a wrong password answer alike"),
        ("/auth/refresh", "The refresh token is unknown, expired, revoked or spent (a spent one revokes its family)"),
    ] {
        let unauthorized = &mut paths[path]["post"]["responses"]["401"];
        if unauthorized.is_object() {
            unauthorized["description"] = json!(description);
        }
    }
}

/// The error statuses each operation can answer with (the handlers' error type declares the union).
fn errors_of(path: &str, method: &str) -> &'static [u16] {
    match (path, method) {
        ("/users", "post") => &[400, 401, 403, 408, 409, 413, 415, 429, 500, 503],
        ("/users", "get") => &[400, 401, 403, 500, 503],
        ("/users/me", "get") => &[400, 401, 500, 503],
        ("/users/{id}", "get") => &[400, 401, 403, 404, 500, 503],
        ("/users/{id}", "put" | "patch") => &[400, 401, 403, 404, 408, 409, 413, 415, 429, 500, 503],
        ("/users/{id}", "delete") => &[400, 401, 403, 404, 409, 500, 503],
        ("/users/{id}/lockout", "delete") => &[400, 401, 403, 404, 500, 503],
        ("/users/{id}/email-verification", "post") => &[400, 401, 403, 404, 500, 503],
        ("/users/{id}/sessions", "get" | "delete") => &[400, 401, 403, 404, 500, 503],
        ("/users/{id}/sessions/{sid}", "delete") => &[400, 401, 403, 404, 500, 503],
        ("/auth/login", "post") => &[400, 401, 403, 408, 413, 415, 429, 500, 503],
        ("/auth/refresh", "post") => &[400, 401, 408, 413, 415, 500, 503],
        ("/auth/logout", "post") => &[400, 408, 413, 415, 500, 503],
        ("/health/ready", "get") => &[500, 503],
        ("/.well-known/jwks.json", "get") => &[404, 500],
        ("/users/import", "post") => &[401, 403, 413, 415, 500, 503],
        ("/users/export", "get") => &[400, 401, 403, 500, 503],
        ("/auth/password-reset" | "/auth/verify-email/resend", "post") => &[400, 404, 408, 413, 415, 429, 500, 503],
        ("/auth/password-reset/confirm" | "/auth/verify-email", "post") => &[400, 404, 408, 413, 415, 500, 503],
        _ => &[500],
    }
}

/// Keeps the operation's own error statuses, each `application/problem+json` with the Problem schema, with the
/// challenge on 401 and the wait on 429.
fn errors_as_problems(operation: &mut Value, statuses: &[u16]) {
    let Some(responses) = operation["responses"].as_object_mut() else { return };
    responses.retain(|status, _| status.parse::<u16>().map_or(true, |code| code < 400 || statuses.contains(&code)));
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = json!({
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            });
        }
        match status.as_str() {
            "401" => {
                response["headers"] = json!({"WWW-Authenticate": {
                    "description": "`Bearer`, with `error=\"invalid_token\"` when a token was refused",
                    "schema": {"type": "string"}}});
            }
            "429" => {
                response["headers"] = json!({"Retry-After": {
                    "description": "Seconds to wait", "required": true, "schema": {"type": "integer", "minimum": 1}}});
            }
            "503" => {
                response["headers"] = json!({"Retry-After": {
                    "description": "Seconds to wait (the service's estimate)", "required": true,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 30}}});
            }
            _ => {}
        }
    }
}

/// Routes served outside paperclip (plain actix): metrics, this document, Swagger UI.
fn add_plain_routes(paths: &mut Map<String, Value>) {
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "tags": ["Operations"], "operationId": "metrics", "summary": "Prometheus metrics",
            "description": "Text format: requests by route template and status, latency, storage pool, logins, refresh-token reuse.",
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "tags": ["Operations"], "operationId": "openapi", "summary": "This document",
            "description": "The OpenAPI 3.0 document of every route, each canonical path once.",
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    paths.insert(
        "/docs".into(),
        json!({"get": {
            "tags": ["Operations"], "operationId": "docs", "summary": "Swagger UI",
            "description": "Redirects to the UI's page; every asset is served by the binary.",
            "responses": {"302": {"description": "To /docs/index.html",
                                  "headers": {"Location": {"schema": {"type": "string"}}}}}
        }}),
    );
}

/// The lifecycle fields (docs/api.md §2, §6): always in a response, the timestamps null when empty; in a request,
/// `disabled_until` may be null.
fn lifecycle_schemas(schemas: &mut Value) {
    let user = &mut schemas["User"];
    if let Some(required) = user["required"].as_array_mut() {
        for field in ["status", "disabled_until", "email_verified", "last_login_at"] {
            if !required.contains(&json!(field)) {
                required.push(json!(field));
            }
        }
    }
    for stamp in ["disabled_until", "last_login_at"] {
        set(user, stamp, json!({"format": "date-time", "nullable": true}));
    }
    for name in ["NewUser", "UserUpdate"] {
        set(&mut schemas[name], "disabled_until", json!({"format": "date-time", "nullable": true}));
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
    schemas["RefreshRequest"]["additionalProperties"] = json!(false);
    // Optional in the DTOs only so that every missing one is reported at once. `password` too may be left out, by an
    // admin inviting the user when mail is on (docs/api.md §7); anyone else gets 400 without it.
    schemas["NewUser"]["required"] = json!(["username", "email"]);
    schemas["NewUser"]["properties"]["password"]["description"] = json!(
        "Required, except that an admin may leave it out when mail is on: the user is then invited to choose one"
    );
    login_schemas(schemas, password);
    let user = &mut schemas["User"];
    user_field_constraints(user);
    // Every response carries them, as null when empty (docs/api.md §2).
    if let Some(required) = user["required"].as_array_mut() {
        for field in ["name", "age"] {
            if !required.contains(&json!(field)) {
                required.push(json!(field));
            }
        }
    }
    for stamp in ["created_at", "updated_at"] {
        set(user, stamp, json!({"format": "date-time"}));
    }
    set(user, "id", json!({"minimum": 1}));
    lifecycle_schemas(schemas);
    schemas["Problem"] = problem_schema();
}

/// "Exactly one of username or email, and the password" as a schema: one object shape per login name, each
/// closed to other fields, so a body with both names or neither matches no branch. The bounds are those of the
/// stored values, so no login that could succeed is refused.
fn login_schemas(schemas: &mut Value, mut password: Value) {
    password["type"] = json!("string");
    let description = schemas["Login"]["description"].clone();
    let by = |name: &str, constraints: Value| {
        json!({
            "type": "object",
            "required": [name, "password"],
            "properties": {name: constraints, "password": password},
            "additionalProperties": false,
        })
    };
    schemas["LoginWithUsername"] =
        by("username", json!({"type": "string", "minLength": USERNAME_MIN_CHARS, "maxLength": USERNAME_MAX_CHARS}));
    schemas["LoginWithEmail"] = by("email", json!({"type": "string", "maxLength": EMAIL_MAX_CHARS}));
    schemas["Login"] = json!({
        "description": description,
        "oneOf": [
            {"$ref": "#/components/schemas/LoginWithUsername"},
            {"$ref": "#/components/schemas/LoginWithEmail"},
        ],
    });
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
    // Names for generators, which otherwise call `-id` and the like VALUE_1 … VALUE_9.
    let sort_names: Vec<String> = SortKey::ALL
        .iter()
        .flat_map(|k| [k.as_str().to_uppercase(), format!("{}_DESC", k.as_str().to_uppercase())])
        .collect();
    let mut constraints = Map::new();
    constraints.insert(
        "limit".into(),
        json!({"type": "integer", "minimum": PAGE_LIMIT_MIN, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT}),
    );
    // No `default` in the schema (it is 0): generated clients send a parameter's default, and `offset` with
    // `starting_after` is a 400 (docs/api.md §3), so a declared default would make cursor pages unreachable to them.
    constraints.insert("offset".into(), json!({"type": "integer", "format": "int64", "minimum": 0}));
    constraints.insert("starting_after".into(), json!({"type": "integer", "format": "int64", "minimum": 1}));
    constraints.insert(
        "sort".into(),
        json!({"type": "string", "enum": sort_values, "x-enum-varnames": sort_names, "default": "id"}),
    );
    // Filters longer than any stored value match nothing; the bound tells clients and fuzzers so.
    constraints.insert("username".into(), json!({"type": "string", "maxLength": USERNAME_MAX_CHARS}));
    constraints.insert("email".into(), json!({"type": "string", "maxLength": EMAIL_MAX_CHARS}));
    constraints.insert("q".into(), json!({"type": "string", "maxLength": EMAIL_MAX_CHARS.max(NAME_MAX_CHARS)}));
    let statuses: Vec<&str> = UserStatus::ALL.iter().map(|s| s.as_str()).collect();
    constraints.insert("status".into(), json!({"type": "string", "enum": statuses}));
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
        "Link": {
            "description": "RFC 8288 links: first, prev, next, last (with starting_after: first and next only)",
            "schema": {"type": "string"}
        }
    });
}

/// The NDJSON routes (docs/api.md §9): paperclip knows only JSON bodies, so their lines are described here.
fn patch_transfer(doc: &mut Value) {
    const NDJSON: &str = "application/x-ndjson";
    let schemas = &mut doc["components"]["schemas"];
    let mut line = schemas["User"].clone();
    if line.is_object() {
        line["description"] = json!("One user of an export, as responses show users; `password_hash` only with include_hashes=true (null: no usable password).");
        line["properties"]["password_hash"] = json!({"type": "string", "nullable": true});
        schemas["ExportedUser"] = line;
    }
    let mut import_line = schemas["NewUser"].clone();
    if import_line.is_object() {
        import_line["description"] = json!("One line of an import: a user, with either password or password_hash (bcrypt, argon2id PHC or PBKDF2-SHA256 PHC; null for no usable password). `id` comes back as source_id.");
        for (field, schema) in [
            ("role", json!({"type": "string", "enum": ["user", "admin"]})),
            ("created_at", json!({"type": "string", "format": "date-time"})),
            ("updated_at", json!({"type": "string", "format": "date-time"})),
            ("password_hash", json!({"type": "string", "nullable": true})),
            ("id", json!({"description": "The user's id where it came from: reported back as source_id"})),
        ] {
            import_line["properties"][field] = schema;
        }
        import_line["required"] = json!(["username", "email"]);
        schemas["ImportLine"] = import_line;
    }
    schemas["ImportResult"] = json!({
        "type": "object",
        "description": "The outcome of one import line, in the order of the lines; written once its batch has committed.",
        "required": ["line", "status"],
        "properties": {
            "line": {"type": "integer", "minimum": 1, "description": "The line's number in the file"},
            "status": {"type": "string", "enum": ["created", "failed"]},
            "id": {"type": "integer", "format": "int64", "minimum": 1, "description": "The created user's id"},
            "source_id": {"description": "The line's own id, when it had one"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
        }
    });
    let import = &mut doc["paths"]["/users/import"]["post"];
    if import.is_object() {
        import["requestBody"] = json!({"required": true, "content": {NDJSON: {
            "schema": {"$ref": "#/components/schemas/ImportLine"}}},
            "description": "One user per line (NDJSON), at most 10 MiB"});
        import["responses"]["200"] = json!({"description": "One result per line (NDJSON), in order",
            "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/ImportResult"}}}});
    }
    let export = &mut doc["paths"]["/users/export"]["get"];
    if export.is_object() {
        export["responses"]["200"] = json!({"description": "One user per line (NDJSON), by id",
            "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/ExportedUser"}}}});
        if let Some(parameters) = export["parameters"].as_array_mut() {
            for parameter in parameters.iter_mut() {
                match parameter["name"].as_str() {
                    Some("username") => {
                        parameter["schema"] = json!({"type": "string", "maxLength": USERNAME_MAX_CHARS})
                    }
                    Some("email") => parameter["schema"] = json!({"type": "string", "maxLength": EMAIL_MAX_CHARS}),
                    Some("include_hashes") => parameter["schema"] = json!({"type": "boolean", "default": false}),
                    _ => {}
                }
            }
        }
    }
}
