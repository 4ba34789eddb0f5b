//! `passgate mcp serve --http PORT`: the MCP endpoint ([`crate::gateway::Gateway`]) on a small
//! HTTP/1.1 listener (std only). The network is the adversary, so the listener is strict and
//! bounded:
//! - one request per connection (`Connection: close` on every response);
//! - `Content-Length` bodies only: `Transfer-Encoding` is 501, two different (or malformed)
//!   lengths are 400, a body over the gateway's `max_body_bytes` is 413 (before it is read), a
//!   body shorter than announced is 400 once the client stops sending;
//! - the request line and headers together are at most [`MAX_HEAD_BYTES`] and
//!   [`MAX_HEADERS`] headers (431 beyond), header names are tokens, folded lines are refused;
//! - the whole request must arrive within the timeout (`--timeout`, default 30 s: a client
//!   sending a byte now and then is cut off at that deadline, 408), and the response be read
//!   within it too;
//! - at most [`MAX_CONNECTIONS`] connections are served at once (a thread each); more are
//!   answered 503 at once, so a slow client holds one thread and never blocks the others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CliResult, Fail, Io};
use crate::gateway::{Gateway, GatewayConfig, HttpRequest, HttpResponse};
use crate::Issuer;

/// Connections served at once; more are answered 503.
pub(super) const MAX_CONNECTIONS: usize = 128;
/// The request line and headers, together.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Headers in one request.
pub(super) const MAX_HEADERS: usize = 100;
/// How long a refused client's unread bytes are drained before the socket closes (so that it
/// reads the refusal rather than a reset).
const DRAIN: Duration = Duration::from_secs(1);
/// At most this much of a refused client's unread request is drained.
const MAX_DRAIN_BYTES: u64 = 1 << 20;

/// What the listener serves, and how.
pub(super) struct HttpOptions {
    /// The address to bind.
    pub(super) host: String,
    /// The port (0: any free port).
    pub(super) port: u16,
    /// The gateway's configuration.
    pub(super) config: GatewayConfig,
    /// The request deadline and the write timeout.
    pub(super) timeout: Duration,
}

/// Serves MCP over HTTP until the process ends.
pub(super) fn serve_http(
    engine: crate::Engine,
    issuer: Option<Issuer>,
    opts: HttpOptions,
    io: &mut Io<'_>,
) -> CliResult {
    let mut gateway = Gateway::new(Arc::new(engine), opts.config)?;
    if let Some(i) = issuer {
        gateway = gateway.issuer(i);
    }
    let gateway = Arc::new(gateway);
    let listener = TcpListener::bind((opts.host.as_str(), opts.port)).map_err(|e| Fail {
        code: "IO".into(),
        message: format!("cannot listen on {}:{}: {e}", opts.host, opts.port),
        exit: 3,
    })?;
    let addr = listener.local_addr().map_or_else(
        |_| format!("{}:{}", opts.host, opts.port),
        |a| a.to_string(),
    );
    let _ = writeln!(
        io.stderr,
        "passgate: MCP on http://{addr}{} (Ctrl-C stops)",
        gateway.config().mcp_path
    );
    let _ = io.stderr.flush();
    let open = Arc::new(AtomicUsize::new(0));
    let timeout = opts.timeout;
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, or an aborted handshake: go on after a breath.
                log(&format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            // No thread to spare: answer at once, without waiting on the client. What it has
            // already sent is read (not waited for) so that closing does not reset the answer.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_response(&mut stream, &plain(503, "too many connections"), false);
            let _ = stream.shutdown(Shutdown::Write);
            if stream.set_nonblocking(true).is_ok() {
                let mut buf = [0u8; 16 * 1024];
                for _ in 0..4 {
                    if !matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                        break;
                    }
                }
            }
            continue;
        }
        let (gateway, open2) = (Arc::clone(&gateway), Arc::clone(&open));
        let spawned = std::thread::Builder::new()
            .name("passgate-http".into())
            .spawn(move || {
                if let Err(e) = connection(&gateway, stream, timeout) {
                    log(&format!("connection: {e}"));
                }
                open2.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// A line on the process's stderr (the connection threads have no [`Io`]).
fn log(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "passgate: {line}");
}

fn plain(status: u16, text: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: format!("{text}\n").into_bytes(),
    }
}

/// A reader that fails with `TimedOut` once `deadline` has passed, however slowly the bytes come.
struct Deadline {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Reads one request from `stream`, answers it, closes.
fn connection(gateway: &Gateway, stream: TcpStream, timeout: Duration) -> std::io::Result<()> {
    let started = Instant::now();
    stream.set_write_timeout(Some(timeout))?;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(Deadline {
        stream,
        deadline: started + timeout,
    });
    let max_body = gateway.config().max_body_bytes;
    let mut head_only = false;
    let (resp, line) = match read_request(&mut reader, &mut out, max_body) {
        Ok(req) => {
            let line = format!("{} {}", req.method, req.path);
            head_only = req.method.eq_ignore_ascii_case("HEAD");
            (gateway.handle(&req), line)
        }
        Err(resp) => (resp, "(refused)".to_string()),
    };
    let written = write_response(&mut out, &resp, head_only);
    log(&format!(
        "{peer} {line} {} {}ms",
        resp.status,
        started.elapsed().as_millis()
    ));
    written?;
    let _ = out.shutdown(Shutdown::Write);
    // Drain what the client still sends (a refused body, bytes past its Content-Length), bounded,
    // until it closes: closing on unread bytes would reset the connection and lose the answer.
    let mut inner = reader.into_inner();
    inner.deadline = Instant::now() + DRAIN;
    let _ = std::io::copy(&mut inner.take(MAX_DRAIN_BYTES), &mut std::io::sink());
    Ok(())
}

/// A bounded line (CRLF or LF), without its end.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, HttpResponse> {
    let mut buf = Vec::new();
    let limit = u64::try_from(*budget).unwrap_or(u64::MAX).saturating_add(1);
    let n = r
        .take(limit)
        .read_until(b'\n', &mut buf)
        .map_err(|e| io_refusal(&e, "request head"))?;
    if n > *budget {
        return Err(plain(431, "request head too large"));
    }
    if !buf.ends_with(b"\n") {
        return Err(plain(400, "request head cut short"));
    }
    *budget -= n;
    buf.pop();
    if buf.ends_with(b"\r") {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| plain(400, "request head is not UTF-8"))
}

/// 408 for a client too slow, 400 otherwise.
fn io_refusal(e: &std::io::Error, what: &str) -> HttpResponse {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            plain(408, &format!("{what} not received in time"))
        }
        _ => plain(400, &format!("{what} cut short")),
    }
}

/// An HTTP token (method, header name): visible ASCII but separators.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reads a request's head and body. `out` gets the `100 Continue` a client may wait for.
fn read_request(
    r: &mut impl BufRead,
    out: &mut impl Write,
    max_body: usize,
) -> Result<HttpRequest, HttpResponse> {
    let mut budget = MAX_HEAD_BYTES;
    let mut line = read_line(r, &mut budget)?;
    // RFC 9112 §2.2: a server should ignore empty lines before the request line.
    for _ in 0..4 {
        if !line.is_empty() {
            break;
        }
        line = read_line(r, &mut budget)?;
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(plain(400, "bad request line"));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(plain(505, "HTTP/1.1 only"));
    }
    if !is_token(method) || !target.starts_with('/') || target.bytes().any(|b| b <= b' ') {
        return Err(plain(400, "bad request line"));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let h = read_line(r, &mut budget)?;
        if h.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(plain(431, "too many headers"));
        }
        // No obs-fold, no space before the colon (RFC 9112 §5.1, §5.2).
        let Some((name, value)) = h.split_once(':') else {
            return Err(plain(400, "bad header"));
        };
        if !is_token(name) || value.contains(['\r', '\0']) {
            return Err(plain(400, "bad header"));
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    let values = |n: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    if !values("transfer-encoding").is_empty() {
        return Err(plain(
            501,
            "Transfer-Encoding is not supported: send a Content-Length body",
        ));
    }
    let mut length: Option<usize> = None;
    for v in values("content-length") {
        for item in v.split(',') {
            let item = item.trim_matches([' ', '\t']);
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(plain(400, "bad Content-Length"));
            }
            // Beyond usize is beyond any body we take.
            let n = item.parse::<usize>().unwrap_or(usize::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(plain(400, "Content-Lengths differ"));
            }
            length = Some(n);
        }
    }
    let length = length.unwrap_or(0);
    if length > max_body {
        return Err(plain(413, &format!("request body over {max_body} bytes")));
    }
    if length > 0
        && values("expect")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| out.flush())
            .map_err(|_| plain(400, "cannot write"))?;
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => plain(400, "request body cut short"),
        _ => {
            let mut resp = io_refusal(&e, "request body");
            // A body that stops short of its Content-Length is a bad request.
            resp.status = 400;
            resp
        }
    })?;
    Ok(HttpRequest {
        method: method.to_string(),
        path: target.to_string(),
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

fn write_response(w: &mut impl Write, resp: &HttpResponse, head_only: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("connection")
            || k.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        // A header never carries a line break into the response.
        if !is_token(k) || v.contains(['\r', '\n']) {
            continue;
        }
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    w.write_all(head.as_bytes())?;
    // A HEAD answer: the length of the body a GET gets, and no body.
    if !head_only {
        w.write_all(&resp.body)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<HttpRequest, HttpResponse> {
        let mut out = Vec::new();
        read_request(&mut std::io::BufReader::new(raw), &mut out, 100)
    }

    fn status(raw: &[u8]) -> u16 {
        match parse(raw) {
            Ok(_) => 200,
            Err(r) => r.status,
        }
    }

    #[test]
    fn requests() {
        let req =
            parse(b"POST /mcp?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/mcp?x=1");
        assert_eq!(req.body, b"{}");
        assert_eq!(req.headers[0], ("Host".to_string(), "h".to_string()));
        // Bare LF and a repeated equal length are fine.
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\nContent-Length: 2\nContent-Length: 2\n\n{}"),
            200
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}"),
            200
        );
    }

    #[test]
    fn lies() {
        // Two different lengths, a signed or hex length, chunked, a folded or spaced header.
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
            400
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\n{}x"),
            400
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}"),
            400
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 0x2\r\n\r\n{}"),
            400
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length:\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
            501
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length : 2\r\n\r\n{}"),
            400
        );
        assert_eq!(status(b"POST /mcp HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), 400);
        // Too long a body, announced; a body cut short.
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 101\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST /mcp HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}"),
            400
        );
        // Bad request lines and versions; a head cut short.
        assert_eq!(status(b"POST  /mcp HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"POST mcp HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"POST /mcp HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"POST /mcp HTTP/1.1\r\nHost: h\r\n"), 400);
        assert_eq!(status(b"PO(T /mcp HTTP/1.1\r\n\r\n"), 400);
    }

    #[test]
    fn bounded_head() {
        let mut big = b"GET /mcp HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES));
        big.extend(b"\r\n\r\n");
        assert_eq!(status(&big), 431);
        let mut many = b"GET /mcp HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend(format!("X-{i}: 1\r\n").bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(status(&many), 431);
    }

    #[test]
    fn expect_continue() {
        let mut out = Vec::new();
        let raw = b"POST /mcp HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}";
        read_request(&mut std::io::BufReader::new(&raw[..]), &mut out, 100).unwrap();
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn responses_carry_no_injected_lines() {
        let mut out = Vec::new();
        let resp = HttpResponse {
            status: 200,
            headers: vec![
                ("X-Ok".into(), "1".into()),
                ("X-Bad".into(), "a\r\nSet-Cookie: x".into()),
                ("Content-Length".into(), "999".into()),
            ],
            body: b"hi".to_vec(),
        };
        write_response(&mut out, &resp, false).unwrap();
        let mut head = Vec::new();
        write_response(&mut head, &resp, true).unwrap();
        assert!(String::from_utf8(head)
            .unwrap()
            .ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nX-Ok: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
    }
}
