//! The `passgate` command line (`passgate::cli`): the shared command lines of tests/cli/cases.json
//! (the Python and Node suites run the same through their entry points), and each subcommand end
//! to end on temp files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::path::{Path, PathBuf};

use passgate::cli::{run, Io};
use passgate::{Engine, Issuer, PassportRequest, Request};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `passgate args…` with `stdin`, from the repository root (relative paths in the shared
/// cases are the root's).
fn pg_in(args: &[&str], stdin: &str) -> Out {
    std::env::set_current_dir(root()).unwrap();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let mut input = stdin.as_bytes();
    let code = run(
        args.iter().map(|s| s.to_string()).collect(),
        &mut Io {
            stdin: &mut input,
            stdout: &mut o,
            stderr: &mut e,
            stderr_tty: false,
        },
    );
    Out {
        code,
        stdout: String::from_utf8(o).unwrap(),
        stderr: String::from_utf8(e).unwrap(),
    }
}

fn pg(args: &[&str]) -> Out {
    pg_in(args, "")
}

#[test]
fn shared_command_lines() {
    let text = std::fs::read_to_string(root().join("tests/cli/cases.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let argv: Vec<&str> = case["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let r = pg(&argv);
        let ctx = format!(
            "{name}: {argv:?}\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        assert_eq!(Some(i64::from(r.code)), case["exit"].as_i64(), "{ctx}");
        if let Some(want) = case["stdout"].as_str() {
            assert_eq!(r.stdout, want, "{ctx}");
        }
        if let Some(re) = case["stdout_regex"].as_str() {
            assert!(
                regex::Regex::new(re).unwrap().is_match(&r.stdout),
                "{re}\n{ctx}"
            );
        }
        if let Some(re) = case["stderr_regex"].as_str() {
            assert!(
                regex::Regex::new(re).unwrap().is_match(&r.stderr),
                "{re}\n{ctx}"
            );
        }
    }
}

#[test]
fn readme_shows_the_real_help() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Command line")
        .nth(1)
        .expect("README has a \"Command line\" section");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its help text block");
    let help = pg(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(
        block == help.stdout,
        "README's help block is not `passgate --help`'s, which is:\n{}",
        help.stdout
    );
}

#[test]
fn keygen_issue_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("issuer.json");
    let k = key.to_str().unwrap();
    let r = pg(&["keygen", "--out", k]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let did = r.stdout.trim().to_string();
    assert!(did.starts_with("did:key:z6Mk"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let r = pg(&[
        "issue",
        "--issuer-key",
        k,
        "--agent",
        "bot-1",
        "--perm",
        "payments:send",
        "web:fetch",
        "--ttl",
        "2h",
        "--caveat",
        r#"{"id": "small", "type": "max_value", "field": "/amount", "max": 100}"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let token = r.stdout.trim().to_string();
    let r = pg(&["verify", &token, "--trust", &did]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let claims: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(claims["sub"], "bot-1", "{claims}");
    // From stdin.
    let r = pg_in(&["verify", "-", "--trust", &did], &format!("{token}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The attack: a passport of an issuer nobody trusts, a tampered one, an expired-TTL typo.
    let other = Issuer::generate().unwrap();
    let r = pg(&["verify", &token, "--trust", other.did()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error[ISSUER_UNTRUSTED]"),
        "{}",
        r.stderr
    );
    let mut bad = token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'Q' } else { 'A' });
    let r = pg(&["verify", &bad, "--trust", &did]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error[PASSPORT_"), "{}", r.stderr);
    let r = pg(&[
        "issue",
        "--issuer-key",
        k,
        "--agent",
        "a",
        "--perm",
        "x",
        "--caveat",
        "{",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A bare secret works as the key file too.
    let issuer = Issuer::generate().unwrap();
    let bare = dir.path().join("bare.key");
    std::fs::write(&bare, format!("{}\n", issuer.secret())).unwrap();
    let r = pg(&[
        "issue",
        "--issuer-key",
        bare.to_str().unwrap(),
        "--agent",
        "a",
        "--perm",
        "x",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let issued: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(issued["token"].is_string() && issued["private_key"].is_string());
}

#[test]
fn keygen_narrows_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.json");
    std::fs::write(&key, "old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(pg(&["keygen", "--out", key.to_str().unwrap()]).code, 0);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn policy_test_runs_a_policy_file_given_aside() {
    let r = pg(&["policy", "test", "examples/policy-tests/cases"]);
    assert_eq!(r.code, 1, "no policy: every case fails: {}", r.stdout);
    assert!(r.stdout.contains("no \"policy\""), "{}", r.stdout);
    let r = pg(&["policy", "test", "tests/cli/fixtures"]);
    assert_eq!(r.code, 1);
}

/// A store with a few decisions in it, and its signer.
fn store_with_records(dir: &Path) -> (String, String) {
    let url = format!("sqlite://{}", dir.join("pg.db").display());
    let issuer = Issuer::generate().unwrap();
    let passport = issuer
        .issue_passport(&PassportRequest::new("a", ["payments:send"]))
        .unwrap();
    let engine = Engine::builder()
        .policy_value(
            json!({"version": 1, "gates": {"payments.send": {"require": ["payments:send"],
            "constraints": [{"id": "cap", "type": "max_value", "field": "/amount", "max": 10}]}}}),
        )
        .trusted_issuer(issuer.did())
        .store_url(&url)
        .build()
        .unwrap();
    for amount in [1, 5, 50] {
        engine
            .enforce(
                &Request::new("payments.send", json!({"amount": amount})).passport(&passport.token),
            )
            .unwrap();
    }
    let signer = engine.signer_did().to_string();
    engine.close();
    (url, signer)
}

#[test]
fn audit_export_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (url, signer) = store_with_records(dir.path());
    let export = dir.path().join("export.jsonl");
    let e = export.to_str().unwrap();
    let r = pg(&[
        "audit",
        "export",
        "--store",
        &url,
        "--since",
        "1970-01-01T00:00:00Z",
        "--out",
        e,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr, "",
        "no progress bar when stderr is not a terminal"
    );
    let lines = std::fs::read_to_string(&export).unwrap();
    assert_eq!(lines.lines().count(), 3);
    let r = pg(&["audit", "verify", e, "--trust", &signer]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["records"], 3, "{report}");
    let r = pg(&["audit", "verify", "--store", &url, "--trust", &signer]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Unpinned: integrity only, said on stderr.
    let r = pg(&["audit", "verify", e]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: no --trust"), "{}", r.stderr);
    // To stdout, and nothing since the future.
    let r = pg(&["audit", "export", "--store", &url]);
    assert_eq!(r.stdout.lines().count(), 3);
    let r = pg(&[
        "audit",
        "export",
        "--store",
        &url,
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // The attack: a record changed, a record cut out, another signer.
    let tampered = lines.replacen("\"allow\"", "\"deny\"", 1);
    assert_ne!(tampered, lines);
    std::fs::write(&export, &tampered).unwrap();
    let r = pg(&["audit", "verify", e, "--trust", &signer]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.starts_with("error[ATTESTATION_"), "{}", r.stderr);
    let cut: Vec<&str> = lines.lines().collect();
    std::fs::write(&export, format!("{}\n{}\n", cut[0], cut[2])).unwrap();
    let r = pg(&["audit", "verify", e, "--trust", &signer]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error[CHAIN_"), "{}", r.stderr);
    std::fs::write(&export, &lines).unwrap();
    let r = pg(&[
        "audit",
        "verify",
        e,
        "--trust",
        Issuer::generate().unwrap().did(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error[ATTESTATION_KEY]"),
        "{}",
        r.stderr
    );
    assert_eq!(pg(&["audit", "verify"]).code, 2);
    assert_eq!(
        pg(&["audit", "export", "--store", &url, "--since", "someday"]).code,
        2
    );
}

fn rpc(id: u64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

#[test]
fn mcp_serve_stdio() {
    let input = [
        rpc(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}),
        ),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        String::new(),
        rpc(2, "tools/list", json!({})),
        rpc(
            3,
            "tools/call",
            json!({"name": "enforce_action", "arguments": {"gate": "payments.send",
            "payload": {"amount": 20, "currency": "USD", "to": "acct_1"}}}),
        ),
        rpc(
            4,
            "tools/call",
            json!({"name": "enforce_action", "arguments": {"gate": "payments.send",
            "payload": {"amount": 900, "currency": "USD", "to": "acct_1"}}}),
        ),
        // The agent reaching for an operator tool.
        rpc(
            5,
            "tools/call",
            json!({"name": "reset_cumulative_state", "arguments": {}}),
        ),
        "{not json".to_string(),
    ]
    .join("\n");
    let r = pg_in(&["mcp", "serve"], &format!("{input}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("demo passport"), "{}", r.stderr);
    let replies: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        replies.len(),
        6,
        "one reply per request, none to the notification: {}",
        r.stdout
    );
    assert_eq!(replies[0]["result"]["serverInfo"]["name"], "passgate");
    let tools: Vec<&str> = replies[1]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"enforce_action"), "{tools:?}");
    assert!(!tools.contains(&"reset_cumulative_state"), "{tools:?}");
    let allow = &replies[2]["result"];
    assert_eq!(allow["isError"], json!(false), "{allow}");
    assert_eq!(allow["structuredContent"]["decision"], "allow", "{allow}");
    assert_eq!(
        replies[3]["result"]["structuredContent"]["decision"], "deny",
        "{}",
        replies[3]
    );
    let refused = &replies[4];
    assert!(
        refused.get("error").is_some() || refused["result"]["isError"] == json!(true),
        "{refused}"
    );
    assert_eq!(replies[5]["error"]["code"], -32700);
}

#[test]
fn mcp_serve_operator_and_passport_file() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::generate().unwrap();
    let passport = issuer
        .issue_passport(&PassportRequest::new("file-agent", ["web:fetch"]))
        .unwrap();
    let pf = dir.path().join("passport.txt");
    std::fs::write(&pf, format!("{}\n", passport.token)).unwrap();
    let input = rpc(
        1,
        "tools/call",
        json!({"name": "verify_passport", "arguments": {}}),
    );
    let r = pg_in(
        &[
            "mcp",
            "serve",
            "--passport-file",
            pf.to_str().unwrap(),
            "--trust",
            issuer.did(),
        ],
        &format!("{input}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("file-agent"), "{}", r.stdout);
    assert!(!r.stderr.contains("demo"), "{}", r.stderr);
    let r = pg_in(
        &["mcp", "serve", "--role", "operator"],
        &format!("{}\n", rpc(1, "tools/list", json!({}))),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("reset_cumulative_state"), "{}", r.stdout);
    let r = pg(&["mcp", "serve", "--role", "root"]);
    assert_eq!(r.code, 2);
    let r = pg(&[
        "mcp",
        "serve",
        "--policy",
        "tests/cli/fixtures/bad-policy.json",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error[POLICY_INVALID]"), "{}", r.stderr);
}

#[test]
fn mcp_serve_keeps_demo_keys_next_to_a_persistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let r = pg(&["mcp", "serve", "--store", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys = dir.path().join("s.db.demo-keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let first = r
        .stderr
        .lines()
        .find(|l| l.contains("demo issuer"))
        .unwrap()
        .to_string();
    let r = pg(&["mcp", "serve", "--store", &url]);
    assert!(
        r.stderr.contains(&first),
        "the same demo issuer after a restart: {}",
        r.stderr
    );
}

#[test]
fn init_merges_without_clobbering() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("HOME", dir.path());
    let cfg = dir.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        r#"{"mcpServers": {"other": {"command": "x"}}, "theme": "dark"}"#,
    )
    .unwrap();
    let r = pg(&[
        "init",
        "cursor",
        "--write",
        "--policy",
        "examples/policy-tests/policy.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(doc["theme"], "dark");
    assert_eq!(doc["mcpServers"]["other"]["command"], "x");
    let args = doc["mcpServers"]["passgate"]["args"].as_array().unwrap();
    assert_eq!(args[..3], [json!("mcp"), json!("serve"), json!("--policy")]);
    assert!(Path::new(args[3].as_str().unwrap()).is_absolute());
    // Twice: still one entry; a config that is not JSON is left alone.
    assert_eq!(pg(&["init", "cursor", "--write"]).code, 0);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(doc["mcpServers"].as_object().unwrap().len(), 2);
    std::fs::write(&cfg, "{broken").unwrap();
    assert_eq!(pg(&["init", "cursor", "--write"]).code, 1);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "{broken");
    // Claude Desktop's file, created with its folders.
    assert_eq!(pg(&["init", "claude", "--write"]).code, 0);
    let claude = if cfg!(target_os = "macos") {
        dir.path()
            .join("Library/Application Support/Claude/claude_desktop_config.json")
    } else {
        dir.path().join(".config/Claude/claude_desktop_config.json")
    };
    assert!(claude.exists());
}

// ---------------------------------------------------------------------------------------------
// keys, and mcp serve --http

#[test]
fn keys_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let r = pg(&[
        "keys", "create", "--store", &url, "--name", "ci", "--scope", "decide", "--format", "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let created: Value = serde_json::from_str(&r.stdout).unwrap();
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert!(secret.starts_with("pgk_"), "{secret}");
    let r = pg(&["keys", "list", "--store", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(id) && r.stdout.contains("active"),
        "{}",
        r.stdout
    );
    let r = pg(&["keys", "list", "--store", &url, "--format", "json"]);
    assert!(!r.stdout.contains(secret), "list never shows a secret");
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap()["keys"][0]["id"],
        id
    );
    let r = pg(&["keys", "revoke", "--store", &url, id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);
    let r = pg(&["keys", "list", "--store", &url]);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);
    let r = pg(&["keys", "revoke", "--store", &url, "pgk_nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error[API_KEY_UNKNOWN]"),
        "{}",
        r.stderr
    );
    let r = pg(&[
        "keys",
        "create",
        "--store",
        &url,
        "--name",
        "x",
        "--scope",
        "decide",
        "--expires-in",
        "0",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = pg(&["keys", "create", "--store", &url, "--name", "x"]);
    assert_eq!(r.code, 2, "a scope is required: {}", r.stderr);
}

/// A free port: bound, then released for the server.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `passgate mcp serve --http PORT args…` in a thread; waits until it listens.
fn serve_http(args: &[&str]) -> u16 {
    let port = free_port();
    let mut argv: Vec<String> = ["mcp", "serve", "--http", &port.to_string()]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    argv.push("--timeout".into());
    argv.push("2".into());
    std::thread::spawn(move || {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let r = pg(&argv);
        panic!("the server stopped: {} {}", r.code, r.stderr);
    });
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return port;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the server does not listen");
}

/// Sends `raw` on a new connection and reads the answer until the server closes.
fn send(port: u16, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(raw).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    String::from_utf8_lossy(&resp).into_owned()
}

fn post(port: u16, body: &str, extra: &str) -> String {
    send(
        port,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn body_of(resp: &str) -> Value {
    serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

#[test]
fn mcp_serve_http_roles_come_from_the_credential() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let issuer = Issuer::generate().unwrap();
    let r = pg(&[
        "keys",
        "create",
        "--store",
        &url,
        "--name",
        "op",
        "--scope",
        "admin:counters",
        "read:attestations",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = r.stdout.trim().to_string();
    let port = serve_http(&[
        "--store",
        &url,
        "--trust",
        issuer.did(),
        "--allowed-origin",
        "http://localhost:3000",
    ]);
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}),
    );
    let list = rpc(2, "tools/list", json!({}));
    // No credential: 401 pointing at the metadata.
    let resp = post(port, &init, "");
    assert!(resp.starts_with("HTTP/1.1 401 "), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("\r\nwww-authenticate: bearer resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource\""),
        "{resp}"
    );
    assert!(resp.contains("Connection: close\r\n"), "{resp}");
    // The operator's key: its scopes' tools.
    let auth = format!("Authorization: Bearer {key}\r\n");
    let resp = post(port, &init, &auth);
    assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
    assert_eq!(body_of(&resp)["result"]["serverInfo"]["name"], "passgate");
    let resp = post(port, &list, &auth);
    let tools = body_of(&resp)["result"]["tools"].to_string();
    assert!(tools.contains("reset_cumulative_state"), "{tools}");
    // A passport: the agent's tools only.
    let passport = issuer
        .issue_passport(&PassportRequest::new("http-agent", ["web:fetch"]))
        .unwrap();
    let bearer = format!("Authorization: Bearer {}\r\n", passport.token);
    let resp = post(port, &list, &bearer);
    assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
    let tools = body_of(&resp)["result"]["tools"].to_string();
    assert!(tools.contains("enforce_action"), "{tools}");
    assert!(!tools.contains("reset_cumulative_state"), "{tools}");
    // A notification: 202. A foreign origin: 403.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert!(post(port, &note, &bearer).starts_with("HTTP/1.1 202 "));
    let resp = post(
        port,
        &list,
        &format!("{bearer}Origin: http://evil.example\r\n"),
    );
    assert!(resp.starts_with("HTTP/1.1 403 "), "{resp}");
    // A passport from an untrusted issuer: 401.
    let other = Issuer::generate()
        .unwrap()
        .issue_passport(&PassportRequest::new("x", ["web:fetch"]))
        .unwrap();
    let resp = post(
        port,
        &list,
        &format!("Authorization: Bearer {}\r\n", other.token),
    );
    assert!(resp.starts_with("HTTP/1.1 401 "), "{resp}");
}

#[test]
fn mcp_serve_http_attacks() {
    use std::io::{Read, Write};
    let port = serve_http(&[
        "--allow-anonymous",
        "--trust",
        Issuer::generate().unwrap().did(),
    ]);
    let ping = rpc(1, "ping", json!({}));
    assert!(post(port, &ping, "").starts_with("HTTP/1.1 200 "));
    // A slow client holds its own connection only: start one that sends half a head, and
    // keep it open while others are served.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    // Chunked bodies: 501 (whether or not a Content-Length comes too).
    let resp = send(
        port,
        b"POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 501 "), "{resp}");
    let resp = post(port, &ping, "Transfer-Encoding: chunked\r\n");
    assert!(resp.starts_with("HTTP/1.1 501 "), "{resp}");
    // Two different lengths; a length that is not a number.
    let resp = post(port, &ping, "Content-Length: 5\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    let resp = post(port, &ping, "Content-Length: -1\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    // A body longer than announced: only the announced bytes are the request (here: not
    // JSON), and the rest is never a second request.
    let resp = send(
        port,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{ping}POST /mcp HTTP/1.1\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1").count(), 1, "{resp}");
    // Headers over 64 KiB: 431; a body over the gateway's bound (announced): 413, unread.
    let big = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    let resp = post(port, &ping, &big);
    assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");
    let resp = send(
        port,
        b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000000\r\n\r\n{",
    );
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    // A body shorter than announced, the client then silent: 400 once the deadline passes.
    let mut short = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    short
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")
        .unwrap();
    let mut resp = String::new();
    short.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    // HEAD: the headers of GET, no body.
    let resp = send(
        port,
        b"HEAD /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n") && !resp.contains("Content-Length: 0\r\n"),
        "{resp}"
    );
    // Not HTTP at all.
    let resp = send(
        port,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    // Meanwhile the slow client was not served; others were. Its deadline cuts it off.
    assert!(post(port, &ping, "").starts_with("HTTP/1.1 200 "));
    let mut resp = String::new();
    slow.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 408 "), "{resp}");
}

#[test]
fn mcp_serve_http_demo_mode_and_bad_flags() {
    // Bad gateway settings are refused before listening.
    let r = pg(&[
        "mcp",
        "serve",
        "--http",
        "0",
        "--allowed-origin",
        "not an origin",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("error[INVALID_ARGUMENT]"), "{}", r.stderr);
    let r = pg(&["mcp", "serve", "--http", "0", "--resource", "ftp://x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = pg(&["mcp", "serve", "--http", "0", "--timeout", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Over HTTP the credential decides the role: --role and --passport-file are stdio's.
    let r = pg(&["mcp", "serve", "--http", "0", "--role", "operator"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = pg(&["mcp", "serve", "--http", "0", "--passport-file", "p.txt"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A port taken: an I/O error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = taken.local_addr().unwrap().port().to_string();
    let r = pg(&["mcp", "serve", "--http", &p]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("DEMO ONLY"), "{}", r.stderr);
    assert!(r.stderr.contains("pgk_"), "{}", r.stderr);
}

#[test]
fn mcp_serve_http_bounds_its_connections() {
    use std::io::Write;
    let port = serve_http(&[
        "--allow-anonymous",
        "--trust",
        Issuer::generate().unwrap().did(),
    ]);
    // 128 clients that never finish their request hold every connection slot (each its own
    // thread, until its deadline) ...
    let slow: Vec<std::net::TcpStream> = (0..128)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"POST /mcp HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // ... so the next is turned away at once rather than queued behind them.
    let resp = post(port, &rpc(1, "ping", json!({})), "");
    assert!(resp.starts_with("HTTP/1.1 503 "), "{resp}");
    drop(slow);
}

#[test]
fn catalog_publish_diff_and_settlement_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:///{}", dir.path().join("c.db").display());
    let key = dir.path().join("signer.json");
    assert_eq!(pg(&["keygen", "--out", key.to_str().unwrap()]).code, 0);
    let cat = |amount: u64| {
        json!({"gate": "pay", "trust_level": "L1", "offers": [{"permission": "pay",
            "price": {"amount": amount, "currency": "USD"}, "pricing": {"model": "per_call"}}]})
    };
    let (v1, v2, bad) = (
        dir.path().join("v1.json"),
        dir.path().join("v2.json"),
        dir.path().join("bad.json"),
    );
    std::fs::write(&v1, cat(100).to_string()).unwrap();
    std::fs::write(&v2, cat(150).to_string()).unwrap();
    let mut b = cat(1);
    b["offers"][0]["price"]["amount"] = json!(1.5);
    std::fs::write(&bad, b.to_string()).unwrap();
    let o = pg(&[
        "catalog",
        "publish",
        v1.to_str().unwrap(),
        "--store",
        &db,
        "--signing-key",
        key.to_str().unwrap(),
        "--summary",
        "first",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let published: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(published["version"], 1);
    let o = pg(&["catalog", "publish", bad.to_str().unwrap(), "--store", &db]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("error[CATALOG_INVALID]") && o.stderr.contains("/offers/0/price/amount"),
        "{}",
        o.stderr
    );
    // A price increase is breaking: exit 1 with the changes printed.
    let o = pg(&[
        "catalog",
        "diff",
        v1.to_str().unwrap(),
        v2.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.contains("price_increase"), "{}", o.stdout);
    assert_eq!(
        pg(&[
            "catalog",
            "diff",
            v2.to_str().unwrap(),
            v1.to_str().unwrap()
        ])
        .code,
        0
    );

    // A settlement made on that store, exported, verified offline; a changed byte fails.
    let secret: Value = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let signer = passgate::KeyPair::from_secret(secret["secret"].as_str().unwrap()).unwrap();
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_json(r#"{"version": 1, "gates": {"pay": {"require": ["pay"]}}}"#)
        .trusted_issuer(issuer.did())
        .signing_key(signer)
        .store_url(&db)
        .build()
        .unwrap();
    let p = issuer
        .issue_passport(&PassportRequest::new("a", ["pay"]))
        .unwrap();
    let d = engine
        .enforce(&Request::new("pay", json!({})).passport(&p.token))
        .unwrap();
    passgate::ops::call(
        &engine,
        "issue_consumption_attestation",
        json!({"evaluation_id": d.evaluation_id, "outcome": "success"}),
    )
    .unwrap();
    let s = engine
        .generate_settlement(0, 4_000_000_000_000, None, None)
        .unwrap();
    let bundle = engine.export_settlement(&s.settlement_id).unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, serde_json::to_string(&bundle).unwrap()).unwrap();
    let did = engine.signer_did().to_string();
    let o = pg(&[
        "settlement",
        "verify",
        file.to_str().unwrap(),
        "--did",
        &did,
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        (v["count"].as_u64(), v["records_checked"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(v["totals"]["USD"]["gross"], 100);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"amount\":100", "\"amount\":10");
    std::fs::write(&file, text).unwrap();
    let o = pg(&[
        "settlement",
        "verify",
        file.to_str().unwrap(),
        "--did",
        &did,
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("error[ATTESTATION_HASH]"), "{}", o.stderr);
}
