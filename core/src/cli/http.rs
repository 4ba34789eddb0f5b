//! `passgate mcp serve --http PORT`: the MCP endpoint over HTTP.

use super::{CliResult, Fail, Io};
use crate::{Engine, Issuer};

/// Serves MCP over HTTP: not in this build yet (it needs the gateway).
pub(super) fn serve_http(
    _engine: Engine,
    _issuer: Option<Issuer>,
    _host: &str,
    _port: u16,
    _io: &mut Io<'_>,
) -> CliResult {
    Err(Fail::usage(
        "--http is not available in this build yet: serve stdio (no --http)",
    ))
}
