
#[test]
fn mcp_serve_http() {
    use std::io::{Read, Write};
    // A free port: bound, then released for the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = port.to_string();
    std::thread::spawn(move || pg(&["mcp", "serve", "--http", &p]));
    let post = |body: &str, extra: &str| -> String {
        let mut s = None;
        for _ in 0..600 {
            if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s = Some(c);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let mut s = s.expect("the server listens");
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    };
    let init = rpc(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}));
    let resp = post(&init, "");
    assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
    assert!(resp.contains("\"serverInfo\""), "{resp}");
    // The attack: a body longer than it says, a chunked body, a lying length.
    let resp = post("{}", "Transfer-Encoding: chunked\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 ") || resp.starts_with("HTTP/1.1 501 "), "{resp}");
    let resp = post(&init, "Content-Length: 5\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
}
