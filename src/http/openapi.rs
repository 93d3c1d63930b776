//! The OpenAPI 3.1 document of the JSON API. The routes are written here; the message schemas are derived from
//! the compiled-in descriptor set, so they follow the proto. `docs/openapi.json` is this document, committed; a
//! test fails when the two differ (`MODERATO_WRITE_OPENAPI=1 cargo test openapi` rewrites the file).

use std::collections::BTreeMap;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::{Value, json};

const PACKAGE: &str = "moderato.v1";

/// The messages the routes name; every message they contain is added.
const ROOT_MESSAGES: [&str; 8] = [
    "CreateChallengeRequest",
    "CreateChallengeResponse",
    "CheckChallengeRequest",
    "CheckChallengeResponse",
    "SubmitCommentRequest",
    "SubmitCommentResponse",
    "Comment",
    "ListDecisionsResponse",
];

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "moderato JSON API",
            "version": "v1",
            "description": "The portal's calls of moderato's gRPC API as JSON over HTTP. Bodies are the gRPC \
                messages in the proto3 JSON mapping: lowerCamelCase names (snake_case accepted on input), enums \
                as their names, 64-bit integers as strings, bytes as base64, timestamps as RFC 3339; fields at \
                their default value are left out. Every route except this document needs a portal token. Errors \
                are google.rpc.Status with the details the gRPC status carries; RESOURCE_EXHAUSTED (429) also \
                sets Retry-After. A body over 256 KiB is refused with 413 (code 3); a call other than the decision \
                stream that takes over 30 s ends with 504 (code 4)."
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A portal token, as on gRPC."}
            },
            "schemas": schemas(),
            "responses": {
                "Error": {
                    "description": "google.rpc.Status in the proto3 JSON mapping.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}
                }
            }
        }
    })
}

fn site_param() -> Value {
    json!({"name": "site", "in": "path", "required": true, "schema": {"type": "string"},
           "description": "The site (portal) id: lowercase letters, digits, '-', '_', '.', 1-64 characters."})
}

fn id_param(what: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": what})
}

fn errors(codes: &[&str]) -> Value {
    let mut m = serde_json::Map::new();
    for c in codes {
        m.insert(
            (*c).to_string(),
            json!({"$ref": "#/components/responses/Error"}),
        );
    }
    Value::Object(m)
}

fn with_errors(ok: Value, codes: &[&str]) -> Value {
    let mut r = errors(codes);
    if let (Value::Object(r), Value::Object(ok)) = (&mut r, ok) {
        r.extend(ok);
    }
    r
}

fn json_ok(schema: &str, description: &str) -> Value {
    json!({"200": {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    }})
}

fn json_body(schema: &str, description: &str) -> Value {
    json!({
        "required": true,
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn paths() -> Value {
    json!({
        "/v1/openapi.json": {"get": {
            "operationId": "GetOpenApi",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                "content": {"application/json": {"schema": {"type": "object"}}}}}
        }},
        "/v1/sites/{site}/captcha-challenges": {"post": {
            "operationId": "CreateChallenge",
            "summary": "CaptchaService.CreateChallenge: a new challenge for one form view.",
            "parameters": [site_param()],
            "requestBody": json_body("CreateChallengeRequest", "`clientIp` is the reader's IP; `site` may be left out."),
            "responses": with_errors(
                json_ok("CreateChallengeResponse", "The challenge; `imagePng` is the image (base64). The Location header names the image route."),
                &["400", "401", "403", "413", "429", "503", "504"]),
        }},
        "/v1/sites/{site}/captcha-challenges/{id}/image.png": {"get": {
            "operationId": "GetChallengeImage",
            "summary": "The image of a challenge this replica issued, until it expires.",
            "parameters": [site_param(), id_param("The challengeId from CreateChallenge.")],
            "responses": with_errors(
                json!({"200": {"description": "The PNG image.", "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}}}),
                &["400", "401", "403", "404"]),
        }},
        "/v1/sites/{site}/captcha-challenges/{id}/check": {"post": {
            "operationId": "CheckChallenge",
            "summary": "CaptchaService.CheckChallenge: checks an answer outside a submission; consumes the challenge.",
            "parameters": [site_param(), id_param("The challengeId from CreateChallenge.")],
            "requestBody": json_body("CheckChallengeRequest", "`answer` is what the reader typed; `site` and `challengeId` may be left out."),
            "responses": with_errors(
                json_ok("CheckChallengeResponse", "The answer was right (an empty object)."),
                &["400", "401", "403", "413", "503", "504"]),
        }},
        "/v1/sites/{site}/comments": {"post": {
            "operationId": "SubmitComment",
            "summary": "CommentService.SubmitComment: validates, checks captcha and limits, scores and decides one comment.",
            "parameters": [site_param()],
            "requestBody": json_body("SubmitCommentRequest", "One reader comment; `site` may be left out."),
            "responses": with_errors(
                json_ok("SubmitCommentResponse", "The decision (published, held for review, or rejected)."),
                &["400", "401", "403", "413", "429", "503", "504"]),
        }},
        "/v1/sites/{site}/comments/{id}": {"get": {
            "operationId": "GetComment",
            "summary": "CommentService.GetComment: one comment with its status and decision history.",
            "parameters": [site_param(), id_param("The commentId from SubmitComment.")],
            "responses": with_errors(
                json_ok("Comment", "The comment."),
                &["400", "401", "403", "404", "503", "504"]),
        }},
        "/v1/sites/{site}/decisions": {"get": {
            "operationId": "ListDecisions",
            "summary": "CommentService.WatchDecisions: the site's decision events after a cursor, by long-poll, or as server-sent events with `Accept: text/event-stream`.",
            "description": "Long-poll: answers as soon as at least one event is there (with every event already read, up to `max`), or after `timeout` seconds with none. Send `nextCursor` as `after` next time. Server-sent events: each event is `event: decision`, `id:` its cursor, `data:` a DecisionEvent as JSON; the stream ends with `event: error` (data: a Status) when the server shuts down, and a reconnecting EventSource resumes from its Last-Event-ID.",
            "parameters": [
                site_param(),
                {"name": "after", "in": "query", "required": false, "schema": {"type": "string"},
                 "description": "Resume after this cursor; empty or absent starts at the oldest retained decision (or after Last-Event-ID)."},
                {"name": "timeout", "in": "query", "required": false,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 30},
                 "description": "Long-poll: seconds to wait for a first event."},
                {"name": "max", "in": "query", "required": false,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                 "description": "Long-poll: most events in one answer."}
            ],
            "responses": with_errors(
                json!({"200": {
                    "description": "The events after the cursor.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ListDecisionsResponse"}},
                        "text/event-stream": {"schema": {"type": "string"}}
                    }
                }}),
                &["400", "401", "403", "503"]),
        }}
    })
}

fn status_schemas() -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    m.insert(
        "Status".to_string(),
        json!({
            "type": "object",
            "description": "google.rpc.Status: `code` is the gRPC code (3 INVALID_ARGUMENT, 9 FAILED_PRECONDITION, 8 RESOURCE_EXHAUSTED, ...).",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}}
            }
        }),
    );
    m.insert(
        "ErrorDetail".to_string(),
        json!({
            "type": "object",
            "description": "One google.rpc error detail, named by `@type`: BadRequest (fieldViolations: field, description), ErrorInfo (reason, domain, metadata), RetryInfo (retryDelay, e.g. \"3s\"), QuotaFailure (violations: subject, description), RequestInfo (requestId, servingData).",
            "required": ["@type"],
            "properties": {
                "@type": {"type": "string", "enum": [
                    "type.googleapis.com/google.rpc.BadRequest",
                    "type.googleapis.com/google.rpc.ErrorInfo",
                    "type.googleapis.com/google.rpc.RetryInfo",
                    "type.googleapis.com/google.rpc.QuotaFailure",
                    "type.googleapis.com/google.rpc.RequestInfo"
                ]},
                "fieldViolations": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "description": {"type": "string"}}}},
                "reason": {"type": "string"},
                "domain": {"type": "string"},
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                "retryDelay": {"type": "string"},
                "violations": {"type": "array", "items": {"type": "object", "properties": {
                    "subject": {"type": "string"}, "description": {"type": "string"}}}},
                "requestId": {"type": "string"},
                "servingData": {"type": "string"}
            }
        }),
    );
    m
}

/// JSON schemas of the root messages and every message and enum they contain, from the descriptor set.
fn schemas() -> Value {
    let fds = FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled-in descriptor set decodes");
    let mut messages: BTreeMap<String, &DescriptorProto> = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for f in fds.file.iter().filter(|f| f.package() == PACKAGE) {
        for m in &f.message_type {
            messages.insert(m.name().to_string(), m);
        }
        for e in &f.enum_type {
            enums.insert(
                e.name().to_string(),
                e.value
                    .iter()
                    .map(|v| v.name().to_string())
                    .collect::<Vec<_>>(),
            );
        }
    }
    let mut out = status_schemas();
    let mut todo: Vec<String> = ROOT_MESSAGES.iter().map(|s| s.to_string()).collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(values) = enums.get(&name) {
            out.insert(name, json!({"type": "string", "enum": values}));
            continue;
        }
        let Some(m) = messages.get(&name) else {
            continue;
        };
        let mut props = serde_json::Map::new();
        for f in &m.field {
            let (schema, referenced) = field_schema(f.r#type(), f.type_name());
            if let Some(r) = referenced {
                todo.push(r);
            }
            let schema = if f.label() == Label::Repeated {
                json!({"type": "array", "items": schema})
            } else {
                schema
            };
            props.insert(f.json_name().to_string(), schema);
        }
        out.insert(name, json!({"type": "object", "properties": props}));
    }
    json!(out)
}

/// The schema of one field's type, and the moderato message or enum it names.
fn field_schema(t: Type, type_name: &str) -> (Value, Option<String>) {
    let local = type_name
        .strip_prefix(&format!(".{PACKAGE}."))
        .map(str::to_string);
    let s = match t {
        Type::String => json!({"type": "string"}),
        Type::Bool => json!({"type": "boolean"}),
        Type::Double | Type::Float => json!({"type": "number"}),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Type::Uint32 | Type::Fixed32 => json!({"type": "integer", "format": "uint32"}),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({"type": "string", "format": "int64"})
        }
        Type::Uint64 | Type::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Type::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Type::Message if type_name == ".google.protobuf.Timestamp" => {
            json!({"type": "string", "format": "date-time"})
        }
        Type::Message | Type::Enum | Type::Group => match &local {
            Some(n) => json!({"$ref": format!("#/components/schemas/{n}")}),
            None => json!({}),
        },
    };
    (s, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let generated = serde_json::to_string_pretty(&document()).expect("serializes") + "\n";
        if std::env::var_os("MODERATO_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(path).expect("docs/openapi.json");
        assert!(
            committed == generated,
            "docs/openapi.json differs from the routes and the proto: run `MODERATO_WRITE_OPENAPI=1 cargo test \
             openapi` and commit it"
        );
    }

    #[test]
    fn the_schemas_name_every_message_the_routes_carry() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for m in ROOT_MESSAGES
            .iter()
            .chain(&["DecisionEvent", "Reason", "CommentStatus", "Author"])
        {
            assert!(schemas.contains_key(*m), "{m} missing");
        }
        assert_eq!(
            schemas["SubmitCommentRequest"]["properties"]["idempotencyKey"]["type"],
            "string"
        );
        assert_eq!(
            schemas["SubmitCommentResponse"]["properties"]["policyVersion"]["format"],
            "uint64"
        );
    }
}
