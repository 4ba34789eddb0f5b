//! `passgate mcp serve --http PORT`: the MCP endpoint ([`crate::gateway::Gateway`]) on a small
//! HTTP/1.1 listener (std only): one request per connection, `Content-Length` bodies, bounded
//! headers, body, connections and idle time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{CliResult, Fail, Io};
use crate::gateway::{Gateway, GatewayConfig, HttpRequest, HttpResponse};
use crate::{Engine, Issuer};

/// Connections served at once; more are answered 503.
const MAX_CONNECTIONS: usize = 256;
/// The request line and headers, together.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// A client that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// Serves MCP over HTTP on `host:port` until the process ends.
pub(super) fn serve_http(
    engine: Engine,
    issuer: Option<Issuer>,
    host: &str,
    port: u16,
    io: &mut Io<'_>,
) -> CliResult {
    let mut gateway = Gateway::new(Arc::new(engine), GatewayConfig::from_env())?;
    if let Some(i) = issuer {
        gateway = gateway.issuer(i);
    }
    let gateway = Arc::new(gateway);
    let listener = TcpListener::bind((host, port)).map_err(|e| Fail {
        code: "IO".into(),
        message: format!("cannot listen on {host}:{port}: {e}"),
        exit: 3,
    })?;
    let addr = listener
        .local_addr()
        .map_or_else(|_| format!("{host}:{port}"), |a| a.to_string());
    let _ = writeln!(
        io.stderr,
        "passgate: MCP on http://{addr}{}",
        gateway.config().mcp_path
    );
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let _ = write_response(&mut stream, &plain(503, "too many connections"));
            continue;
        }
        let (gateway, open) = (Arc::clone(&gateway), Arc::clone(&open));
        std::thread::spawn(move || {
            let _ = connection(&gateway, stream);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

fn plain(status: u16, text: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: format!("{text}\n").into_bytes(),
    }
}

/// Reads one request from `stream`, answers it, closes.
fn connection(gateway: &Gateway, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let resp = match read_request(&mut reader, gateway.config().max_body_bytes) {
        Ok(req) => gateway.handle(&req),
        Err(resp) => resp,
    };
    write_response(&mut out, &resp)
}

/// A bounded line (CRLF or LF), without its end.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, HttpResponse> {
    let mut buf = Vec::new();
    let n = r
        .take(u64::try_from(*budget).unwrap_or(u64::MAX).saturating_add(1))
        .read_until(b'\n', &mut buf)
        .map_err(|_| plain(400, "bad request"))?;
    if n > *budget || !buf.ends_with(b"\n") {
        return Err(plain(431, "request head too large or cut short"));
    }
    *budget -= n;
    buf.pop();
    if buf.ends_with(b"\r") {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| plain(400, "request head is not UTF-8"))
}

fn read_request(r: &mut impl BufRead, max_body: usize) -> Result<HttpRequest, HttpResponse> {
    let mut budget = MAX_HEAD_BYTES;
    let line = read_line(r, &mut budget)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(plain(400, "bad request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(plain(400, "bad request line"));
    }
    let mut headers = Vec::new();
    loop {
        let h = read_line(r, &mut budget)?;
        if h.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(plain(431, "too many headers"));
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(plain(400, "bad header"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let header = |n: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    if !header("transfer-encoding").is_empty() {
        return Err(plain(501, "chunked bodies are not supported: send Content-Length"));
    }
    let length = match header("content-length").as_slice() {
        [] => 0,
        [v] => v
            .parse::<usize>()
            .map_err(|_| plain(400, "bad Content-Length"))?,
        _ => return Err(plain(400, "more than one Content-Length")),
    };
    if length > max_body {
        return Err(plain(413, "request body too large"));
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)
        .map_err(|_| plain(400, "request body cut short"))?;
    // The path without its query.
    let path = target.split('?').next().unwrap_or(target).to_string();
    Ok(HttpRequest {
        method: method.to_string(),
        path,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_response(w: &mut impl Write, resp: &HttpResponse) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        // A header value never carries a line break into the response.
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    w.write_all(head.as_bytes())?;
    w.write_all(&resp.body)?;
    w.flush()
}
