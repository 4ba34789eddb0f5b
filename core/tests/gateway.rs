//! The HTTP gateway: admission (origin, credentials, media types), JSON-RPC framing, sessions and
//! the trace it records, attacked as the agent would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::gateway::{Gateway, GatewayConfig, HttpRequest, HttpResponse, METADATA_PATH};
use passgate::{AttestationFilter, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

struct World {
    engine: Arc<Engine>,
    gateway: Gateway,
    token: String,
    issuer: Issuer,
}

fn world(config: GatewayConfig) -> World {
    let issuer = Issuer::generate().unwrap();
    let engine = Arc::new(
        Engine::builder()
            .policy_value(json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
                {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]}}}))
            .trusted_issuer(issuer.did())
            .build()
            .unwrap(),
    );
    let token = issuer
        .issue_passport(&PassportRequest::new("agent-7", ["pay"]))
        .unwrap()
        .token;
    let gateway = Gateway::new(Arc::clone(&engine), config).unwrap();
    World {
        engine,
        gateway,
        token,
        issuer,
    }
}

fn default_world() -> World {
    world(GatewayConfig::default())
}

const JSON_AND_SSE: &str = "application/json, text/event-stream";

fn post(w: &World, headers: &[(&str, &str)], body: &Value) -> HttpResponse {
    post_raw(w, headers, body.to_string().into_bytes())
}

fn post_raw(w: &World, headers: &[(&str, &str)], body: Vec<u8>) -> HttpResponse {
    let mut h: Vec<(String, String)> = vec![
        ("Content-Type".into(), "application/json".into()),
        ("Accept".into(), JSON_AND_SSE.into()),
        ("Host".into(), "localhost:8080".into()),
    ];
    for (k, v) in headers {
        h.retain(|(hk, _)| !hk.eq_ignore_ascii_case(k));
        h.push(((*k).into(), (*v).into()));
    }
    w.gateway.handle(&HttpRequest {
        method: "POST".into(),
        path: "/mcp".into(),
        headers: h,
        body,
    })
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {:?}", r))
}

fn initialize(client: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": client, "version": "1"}}})
}

fn enforce(id: u64, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "enforce_action", "arguments": args}})
}

/// The tool result's JSON.
fn tool_json(r: &HttpResponse) -> Value {
    let b = body(r);
    serde_json::from_str(b["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

/// Opens a session as `auth`; returns its id.
fn open_session(w: &World, auth: &str, client: &str) -> String {
    let r = post(w, &[("Authorization", auth)], &initialize(client));
    assert_eq!(r.status, 200, "{r:?}");
    let sid = r.header("mcp-session-id").unwrap().to_string();
    assert!(sid.starts_with("mcs_"), "{sid}");
    sid
}

fn decisions(engine: &Engine) -> Vec<Value> {
    engine
        .attestations(&AttestationFilter {
            kind: Some("decision".into()),
            ..AttestationFilter::default()
        })
        .unwrap()
}

#[test]
fn a_passport_bearer_initializes_lists_agent_tools_and_enforces() {
    let w = default_world();
    let auth = bearer(&w.token);
    let r = post(&w, &[("Authorization", &auth)], &initialize("claude-code"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let b = body(&r);
    assert_eq!(b["result"]["serverInfo"]["name"], "passgate");
    let sid = r.header("mcp-session-id").unwrap().to_string();

    let list = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &sid)],
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    assert_eq!(list.status, 200);
    assert_eq!(list.header("mcp-session-id"), Some(sid.as_str()));
    let names: Vec<String> = body(&list)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"enforce_action".to_string()));
    assert!(!names.contains(&"revoke_passport".to_string()), "{names:?}");
    assert!(!names.contains(&"approve".to_string()));

    let r = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &sid)],
        &enforce(
            3,
            json!({"gate": "payments.send", "payload": {"amount": 30}}),
        ),
    );
    assert_eq!(r.status, 200);
    let d = tool_json(&r);
    assert_eq!(d["decision"], "allow", "{d}");
    // The bearer's passport was used: the decision is the agent's.
    let rec = decisions(&w.engine);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["body"]["agent_id"], "agent-7");

    // An operator tool is refused to the agent's bearer.
    let r = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &sid)],
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "reset_cumulative_state", "arguments": {}}}),
    );
    let b = body(&r);
    assert_eq!(b["result"]["isError"], true, "{b}");
    assert!(b["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("FORBIDDEN"));
}

#[test]
fn the_attestation_carries_the_gateway_trace_and_the_server_fields_win() {
    let w = default_world();
    let auth = bearer(&w.token);
    let sid = open_session(&w, &auth, "cursor\u{7}-ide");
    let r = post(
        &w,
        &[
            ("Authorization", &auth),
            ("Mcp-Session-Id", &sid),
            ("X-Request-Id", "req-abc-123"),
        ],
        &enforce(
            6,
            json!({"gate": "payments.send", "payload": {"amount": 5},
                   "trace": {"gateway": "forged", "mcp_session_id": "mcs_someone_else",
                             "mcp_client_name": "forged", "gateway_request_id": "forged", "mine": 1}}),
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("req-abc-123"));
    assert_eq!(tool_json(&r)["decision"], "allow");
    let rec = decisions(&w.engine);
    let trace = &rec[0]["body"]["trace"];
    assert_eq!(trace["gateway"], "passgate", "{trace}");
    // Attestations keep numbers as exact decimal strings.
    assert_eq!(trace["gateway_jsonrpc_id"], "6");
    assert_eq!(trace["gateway_request_id"], "req-abc-123");
    assert_eq!(trace["mcp_session_id"], sid.as_str());
    // Control characters are dropped from the client's name.
    assert_eq!(trace["mcp_client_name"], "cursor-ide");
    // The caller's own fields stay.
    assert_eq!(trace["mine"], "1");
}

#[test]
fn an_insane_request_id_is_replaced_and_a_string_jsonrpc_id_is_kept() {
    let w = default_world();
    let auth = bearer(&w.token);
    let long = "x".repeat(129);
    for bad in [long.as_str(), "a\tb", "é"] {
        let mut msg = enforce(
            0,
            json!({"gate": "payments.send", "payload": {"amount": 1}}),
        );
        msg["id"] = json!("call-1");
        let r = post(&w, &[("Authorization", &auth), ("X-Request-Id", bad)], &msg);
        assert_eq!(r.status, 200);
        let rid = r.header("x-request-id").unwrap();
        assert!(rid.starts_with("req_"), "{rid}");
        let rec = decisions(&w.engine);
        let trace = &rec.last().unwrap()["body"]["trace"];
        assert_eq!(trace["gateway_request_id"], rid);
        assert_eq!(trace["gateway_jsonrpc_id"], "call-1");
        // No session header: no session fields.
        assert!(trace.get("mcp_session_id").is_none(), "{trace}");
    }
}

#[test]
fn a_retry_through_another_session_replays_instead_of_conflicting() {
    let w = default_world();
    let auth = bearer(&w.token);
    let s1 = open_session(&w, &auth, "first");
    let s2 = open_session(&w, &auth, "second");
    assert_ne!(s1, s2);
    let args =
        json!({"gate": "payments.send", "payload": {"amount": 60}, "idempotency_key": "k-1"});
    let a = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &s1)],
        &enforce(1, args.clone()),
    );
    let b = post(
        &w,
        &[
            ("Authorization", &auth),
            ("Mcp-Session-Id", &s2),
            ("X-Request-Id", "other"),
        ],
        &enforce(2, args),
    );
    let (a, b) = (tool_json(&a), tool_json(&b));
    assert_eq!(a["decision"], "allow", "{a}");
    assert_eq!(b["decision"], "allow", "{b}");
    assert_eq!(a["evaluation_id"], b["evaluation_id"]);
    // Counted once: 60 of 100 spent, so another 60 is denied.
    let c = post(
        &w,
        &[("Authorization", &auth)],
        &enforce(
            3,
            json!({"gate": "payments.send", "payload": {"amount": 60}}),
        ),
    );
    assert_eq!(tool_json(&c)["decision"], "deny");
}

#[test]
fn notifications_and_responses_get_202_with_no_credential() {
    let w = default_world();
    for msg in [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
        json!({"jsonrpc": "2.0", "id": 5, "error": {"code": 1, "message": "x"}}),
    ] {
        let r = post(&w, &[], &msg);
        assert_eq!(r.status, 202, "{msg}");
        assert!(r.body.is_empty());
    }
    // A notification cannot call a tool: it is never answered nor run.
    let r = post(
        &w,
        &[],
        &json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "enforce_action",
            "arguments": {"gate": "payments.send", "payload": {"amount": 1}}}}),
    );
    assert_eq!(r.status, 202);
    assert!(decisions(&w.engine).is_empty());
}

#[test]
fn a_missing_or_bad_bearer_is_401_with_the_metadata_challenge() {
    let w = default_world();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let r = post(&w, &[], &ping);
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert_eq!(
        challenge,
        "Bearer resource_metadata=\"http://localhost:8080/.well-known/oauth-protected-resource\""
    );
    for (name, value) in [
        ("Authorization", "Bearer not-a-passport".to_string()),
        ("Authorization", "Basic dXNlcjpwYXNz".to_string()),
        ("Authorization", "Bearer ".to_string()),
        ("x-api-key", "whatever".to_string()),
    ] {
        let r = post(&w, &[(name, &value)], &ping);
        assert_eq!(r.status, 401, "{name}: {value}");
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer resource_metadata=\"http://localhost:8080/.well-known/oauth-protected-resource\", error=\""),
            "{challenge}"
        );
        assert_eq!(body(&r)["error"]["code"], -32001);
    }
    let r = post(&w, &[("Authorization", "Bearer junk")], &ping);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
}

#[test]
fn a_revoked_or_untrusted_passport_is_401() {
    let w = default_world();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let auth = bearer(&w.token);
    assert_eq!(post(&w, &[("Authorization", &auth)], &ping).status, 200);
    let other = Issuer::generate().unwrap();
    let foreign = other
        .issue_passport(&PassportRequest::new("agent-7", ["pay"]))
        .unwrap()
        .token;
    assert_eq!(
        post(&w, &[("Authorization", &bearer(&foreign))], &ping).status,
        401
    );
    let claims = w.engine.verify_passport(&w.token).unwrap();
    w.engine
        .revoke_passport(claims["jti"].as_str().unwrap())
        .unwrap();
    let r = post(&w, &[("Authorization", &auth)], &ping);
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
}

#[test]
fn anonymous_callers_only_when_allowed_and_ambiguous_credentials_are_refused() {
    let w = world(GatewayConfig {
        allow_anonymous: true,
        ..GatewayConfig::default()
    });
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(post(&w, &[], &ping).status, 200);
    // A bad bearer is still refused, not downgraded to anonymous.
    assert_eq!(
        post(&w, &[("Authorization", "Bearer junk")], &ping).status,
        401
    );
    // Two credentials: which one is the caller? Neither.
    let auth = bearer(&w.token);
    let h: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        ("authorization".into(), auth.clone()),
        ("authorization".into(), "Bearer junk".into()),
    ];
    let r = w.gateway.handle(&HttpRequest {
        method: "POST".into(),
        path: "/mcp".into(),
        headers: h,
        body: ping.to_string().into_bytes(),
    });
    assert_eq!(r.status, 401);
    assert_eq!(
        post(
            &w,
            &[("Authorization", &auth), ("x-api-key", "pgk_x_y")],
            &ping
        )
        .status,
        401
    );
}

#[test]
fn origins_not_on_the_list_are_403_and_no_origin_is_not_checked() {
    let w = world(GatewayConfig {
        allowed_origins: vec![
            "https://app.example.com".into(),
            "http://localhost:3000".into(),
        ],
        ..GatewayConfig::default()
    });
    let auth = bearer(&w.token);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for ok in [
        "https://app.example.com",
        "https://APP.example.com:443",
        "http://localhost:3000",
    ] {
        let r = post(&w, &[("Authorization", &auth), ("Origin", ok)], &ping);
        assert_eq!(r.status, 200, "{ok}");
    }
    assert_eq!(post(&w, &[("Authorization", &auth)], &ping).status, 200);
    for bad in [
        "https://evil.example.com",
        "null",
        "http://app.example.com",
        "https://app.example.com.evil.com",
        "http://localhost:3001",
    ] {
        let r = post(&w, &[("Authorization", &auth), ("Origin", bad)], &ping);
        assert_eq!(r.status, 403, "{bad}");
    }
    // Before authentication, and for notifications too.
    let r = post(
        &w,
        &[("Origin", "https://evil.example.com")],
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(r.status, 403);
    // An empty list skips the check.
    let open = default_world();
    let auth = bearer(&open.token);
    let r = post(
        &open,
        &[
            ("Authorization", &auth),
            ("Origin", "https://evil.example.com"),
        ],
        &ping,
    );
    assert_eq!(r.status, 200);
    // A malformed configured origin is refused at construction.
    let e = Gateway::new(
        Arc::clone(&open.engine),
        GatewayConfig {
            allowed_origins: vec!["not an origin".into()],
            ..GatewayConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

#[test]
fn accept_and_content_type_are_checked_after_authentication() {
    let w = default_world();
    let auth = bearer(&w.token);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for accept in [
        "application/json",
        "text/event-stream",
        "text/html",
        "application/json;q=0, text/event-stream, */*;q=0",
    ] {
        let r = post(&w, &[("Authorization", &auth), ("Accept", accept)], &ping);
        assert_eq!(r.status, 406, "{accept}");
    }
    for accept in [
        "*/*",
        "application/*, text/*",
        "application/json, text/event-stream;q=0.5",
    ] {
        let r = post(&w, &[("Authorization", &auth), ("Accept", accept)], &ping);
        assert_eq!(r.status, 200, "{accept}");
    }
    for ct in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let r = post(&w, &[("Authorization", &auth), ("Content-Type", ct)], &ping);
        assert_eq!(r.status, 415, "{ct:?}");
    }
    let r = post(
        &w,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        &ping,
    );
    assert_eq!(r.status, 200);
    // Unauthenticated: 401 first.
    assert_eq!(post(&w, &[("Accept", "text/html")], &ping).status, 401);
}

#[test]
fn batches_and_parse_errors_are_400_and_bodies_are_bounded() {
    let w = world(GatewayConfig {
        max_body_bytes: 4096,
        ..GatewayConfig::default()
    });
    let auth = bearer(&w.token);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        enforce(2, json!({"gate": "payments.send", "payload": {"amount": 1}}))
    ]);
    let r = post(&w, &[("Authorization", &auth)], &batch);
    assert_eq!(r.status, 400);
    assert_eq!(body(&r)["error"]["code"], -32600);
    assert!(decisions(&w.engine).is_empty());
    for junk in [&b"{not json"[..], b"{\"a\":1,\"a\":2}", b"\xff\xfe"] {
        let r = post_raw(&w, &[("Authorization", &auth)], junk.to_vec());
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["error"]["code"], -32700);
    }
    // A parse error without a credential is 401: junk is not a notification.
    assert_eq!(post_raw(&w, &[], b"{".to_vec()).status, 401);
    let big = format!(
        "{{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\", \"params\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(5000)
    );
    let r = post_raw(&w, &[], big.into_bytes());
    assert_eq!(r.status, 413);
}

#[test]
fn sessions_belong_to_their_credential_and_end_on_delete() {
    let w = default_world();
    let auth = bearer(&w.token);
    let sid = open_session(&w, &auth, "c");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    // Another agent cannot ride the session (and borrow its client name).
    let other = w
        .issuer
        .issue_passport(&PassportRequest::new("agent-8", ["pay"]))
        .unwrap()
        .token;
    let r = post(
        &w,
        &[("Authorization", &bearer(&other)), ("Mcp-Session-Id", &sid)],
        &ping,
    );
    assert_eq!(r.status, 404);
    // An id it never issued is 404 too.
    let r = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", "mcs_made_up")],
        &ping,
    );
    assert_eq!(r.status, 404);
    let delete = |auth: &str, sid: Option<&str>| {
        let mut headers = vec![("authorization".to_string(), auth.to_string())];
        if let Some(s) = sid {
            headers.push(("mcp-session-id".into(), s.into()));
        }
        w.gateway.handle(&HttpRequest {
            method: "DELETE".into(),
            path: "/mcp".into(),
            headers,
            body: Vec::new(),
        })
    };
    assert_eq!(delete(&bearer(&other), Some(&sid)).status, 404);
    assert_eq!(delete(&auth, None).status, 400);
    assert_eq!(delete("Bearer junk", Some(&sid)).status, 401);
    assert_eq!(delete(&auth, Some(&sid)).status, 204);
    let r = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &sid)],
        &ping,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn sessions_are_bounded_least_recently_used_first() {
    let w = world(GatewayConfig {
        max_sessions: 3,
        ..GatewayConfig::default()
    });
    let auth = bearer(&w.token);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let first = open_session(&w, &auth, "c");
    let second = open_session(&w, &auth, "c");
    let _third = open_session(&w, &auth, "c");
    // Touch the first: the second is now the oldest.
    assert_eq!(
        post(
            &w,
            &[("Authorization", &auth), ("Mcp-Session-Id", &first)],
            &ping
        )
        .status,
        200
    );
    for _ in 0..5 {
        open_session(&w, &auth, "c");
    }
    assert_eq!(w.gateway.session_count(), 3);
    assert_eq!(
        post(
            &w,
            &[("Authorization", &auth), ("Mcp-Session-Id", &second)],
            &ping
        )
        .status,
        404
    );
}

/// The attack: an agent opening sessions in a loop pushes out only its own.
#[test]
fn one_credential_cannot_push_out_everyone_elses_sessions() {
    let w = world(GatewayConfig {
        max_sessions: 200,
        ..GatewayConfig::default()
    });
    let victim_token = w
        .issuer
        .issue_passport(&PassportRequest::new("victim", ["pay"]))
        .unwrap()
        .token;
    let victim = bearer(&victim_token);
    let kept = open_session(&w, &victim, "victim");
    let auth = bearer(&w.token);
    let first = open_session(&w, &auth, "flood");
    for _ in 0..300 {
        open_session(&w, &auth, "flood");
    }
    assert_eq!(
        w.gateway.session_count(),
        passgate::gateway::MAX_SESSIONS_PER_CREDENTIAL + 1
    );
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let status = |auth: &str, sid: &str| {
        post(
            &w,
            &[("Authorization", auth), ("Mcp-Session-Id", sid)],
            &ping,
        )
        .status
    };
    assert_eq!(status(&victim, &kept), 200);
    assert_eq!(status(&auth, &first), 404);
}

#[test]
fn get_is_405_other_paths_404_and_the_metadata_is_public() {
    let w = world(GatewayConfig {
        resource: Some("https://mcp.example.com/mcp".into()),
        authorization_servers: vec!["https://auth.example.com".into()],
        ..GatewayConfig::default()
    });
    let auth = bearer(&w.token);
    let get = |path: &str, headers: Vec<(String, String)>| {
        w.gateway.handle(&HttpRequest {
            method: "GET".into(),
            path: path.into(),
            headers,
            body: Vec::new(),
        })
    };
    let r = get("/mcp", vec![("authorization".into(), auth.clone())]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, DELETE"));
    assert_eq!(get("/mcp", vec![]).status, 401);
    assert_eq!(get("/other", vec![]).status, 404);
    for path in [METADATA_PATH, "/.well-known/oauth-protected-resource/mcp"] {
        let r = get(path, vec![]);
        assert_eq!(r.status, 200);
        let m = body(&r);
        assert_eq!(m["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            m["authorization_servers"],
            json!(["https://auth.example.com"])
        );
        assert_eq!(m["bearer_methods_supported"], json!(["header"]));
        assert!(m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("decide")));
    }
    // The challenge points at the configured resource's origin, whatever the Host says.
    let r = post(
        &w,
        &[("Host", "evil.example.com")],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\"")
    );
    // A query string does not change the route.
    let r = get("/.well-known/oauth-protected-resource?x=1", vec![]);
    assert_eq!(r.status, 200);
}

#[test]
fn junk_requests_never_panic() {
    let w = world(GatewayConfig {
        allowed_origins: vec!["https://a.example".into()],
        allow_anonymous: true,
        ..GatewayConfig::default()
    });
    let methods = ["", "POST", "get", "DELETE", "PATCH", "\u{0}"];
    let paths = [
        "",
        "/mcp",
        "/mcp?x",
        "//",
        "\u{fffd}",
        "/.well-known/oauth-protected-resource/x",
    ];
    let headers: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![("origin".into(), "\u{0}".into())],
        vec![("host".into(), "\u{1}\"".into())],
        vec![("authorization".into(), "Bearer".into())],
        vec![
            ("accept".into(), ";;;,,,q=abc".into()),
            ("content-type".into(), ";".into()),
        ],
        vec![
            ("mcp-session-id".into(), "".into()),
            ("x-request-id".into(), "".into()),
        ],
    ];
    let bodies: Vec<Vec<u8>> = vec![
        vec![],
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"initialize\"}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"clientInfo\":{\"name\":7}}}".to_vec(),
    ];
    for m in methods {
        for p in paths {
            for h in &headers {
                for b in &bodies {
                    let r = w.gateway.handle(&HttpRequest {
                        method: m.into(),
                        path: p.into(),
                        headers: h.clone(),
                        body: b.clone(),
                    });
                    assert!((200..600).contains(&r.status));
                }
            }
        }
    }
}

fn tool_names(r: &HttpResponse) -> Vec<String> {
    body(r)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn api_keys_get_the_tools_of_their_scopes_and_a_revoked_key_is_401() {
    use passgate::apikey::Scope;
    let w = default_world();
    let operator = w
        .engine
        .create_api_key(
            "ops",
            &[Scope::AdminCounters, Scope::ReadAttestations],
            None,
        )
        .unwrap();
    let decide = w
        .engine
        .create_api_key("bot", &[Scope::Decide], None)
        .unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});

    // The operator key, as a bearer and as x-api-key: its operator tools, and they run.
    for (name, value) in [
        ("Authorization", bearer(&operator.secret)),
        ("x-api-key", operator.secret.clone()),
    ] {
        let names = tool_names(&post(&w, &[(name, &value)], &list));
        assert!(
            names.contains(&"reset_cumulative_state".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"get_attestations".to_string()));
        assert!(!names.contains(&"revoke_passport".to_string()), "{names:?}");
        let r = post(
            &w,
            &[(name, &value)],
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_attestations", "arguments": {}}}),
        );
        assert_eq!(body(&r)["result"]["isError"], false, "{:?}", body(&r));
    }

    // The decide key: only agent tools; its evaluation is anonymous, keyed and traced.
    let auth = bearer(&decide.secret);
    let names = tool_names(&post(&w, &[("Authorization", &auth)], &list));
    assert!(names.contains(&"enforce_action".to_string()));
    assert!(
        !names.contains(&"reset_cumulative_state".to_string()),
        "{names:?}"
    );
    let r = post(
        &w,
        &[("Authorization", &auth)],
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "reset_cumulative_state", "arguments": {}}}),
    );
    assert_eq!(body(&r)["result"]["isError"], true);
    let sid = open_session(&w, &auth, "bot-client");
    let r = post(
        &w,
        &[("Authorization", &auth), ("Mcp-Session-Id", &sid)],
        &enforce(
            5,
            json!({"gate": "payments.send", "payload": {"amount": 1}}),
        ),
    );
    assert_eq!(r.status, 200);
    let rec = decisions(&w.engine);
    let body_ = &rec.last().unwrap()["body"];
    assert_eq!(body_["trace"]["api_key_id"], decide.key.id.as_str());
    assert_eq!(body_["trace"]["gateway"], "passgate");
    assert_eq!(body_["trace"]["mcp_client_name"], "bot-client");
    assert_eq!(body_["client"], format!("key:{}", decide.key.id));
    // A session opened by the key is not the passport holder's.
    let r = post(
        &w,
        &[
            ("Authorization", &bearer(&w.token)),
            ("Mcp-Session-Id", &sid),
        ],
        &list,
    );
    assert_eq!(r.status, 404);

    // Revoked, unknown or malformed keys: 401 with the challenge.
    w.engine.revoke_api_key(&operator.key.id).unwrap();
    for value in [
        bearer(&operator.secret),
        bearer("pgk_nope_nope"),
        bearer(&format!("{}x", decide.secret)),
    ] {
        let r = post(&w, &[("Authorization", &value)], &list);
        assert_eq!(r.status, 401, "{value}");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    let r = post(&w, &[("x-api-key", &operator.secret)], &list);
    assert_eq!(r.status, 401);
}
