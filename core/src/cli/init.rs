//! `passgate init claude|cursor`: an MCP client's `mcpServers.passgate` entry running
//! `passgate mcp serve …`, printed or merged into the client's config file.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Map, Value};

use super::{out, pretty, read_text, CliResult, Fail, Io};
use crate::json::{self, Limits};

/// `init` options.
#[derive(Args, Debug)]
pub(super) struct InitArgs {
    /// The MCP client.
    #[arg(value_parser = ["claude", "cursor"])]
    client: String,
    /// Merge the entry into the client's config file (other servers are kept).
    #[arg(long)]
    write: bool,
    /// The policy file the server enforces (made absolute).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The store URL.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

/// The client's config file under `home`.
fn config_path(client: &str, home: &Path) -> PathBuf {
    match client {
        "cursor" => home.join(".cursor").join("mcp.json"),
        _ if cfg!(target_os = "macos") => home
            .join("Library")
            .join("Application Support")
            .join("Claude")
            .join("claude_desktop_config.json"),
        _ => home
            .join(".config")
            .join("Claude")
            .join("claude_desktop_config.json"),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The `mcpServers.passgate` entry.
fn entry(a: &InitArgs) -> Value {
    let mut args = vec!["mcp".to_string(), "serve".to_string()];
    if let Some(p) = &a.policy {
        args.extend(["--policy".into(), absolute(p).display().to_string()]);
    }
    if let Some(s) = &a.store {
        // A relative SQLite path would resolve against the client's working directory.
        let s = match s.strip_prefix("sqlite://") {
            Some(p) if !p.starts_with('/') => {
                format!("sqlite://{}", absolute(Path::new(p)).display())
            }
            _ => s.clone(),
        };
        args.extend(["--store".into(), s]);
    }
    let mut launcher = launcher();
    let command = launcher.remove(0);
    launcher.extend(args);
    json!({"command": command, "args": launcher})
}

/// The command that starts `passgate` again: the Python and Node entry points put theirs
/// (absolute paths: a desktop client's PATH does not hold a virtual environment or a package's
/// bin) in `PASSGATE_CLI_LAUNCHER`, a JSON array of strings; otherwise `passgate` on PATH.
fn launcher() -> Vec<String> {
    std::env::var("PASSGATE_CLI_LAUNCHER")
        .ok()
        .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
        .filter(|l| !l.is_empty() && l.iter().all(|s| !s.is_empty()))
        .unwrap_or_else(|| vec!["passgate".to_string()])
}

pub(super) fn init(a: &InitArgs, io: &mut Io<'_>) -> CliResult {
    let entry = entry(a);
    if !a.write {
        return out(io, &pretty(&json!({"mcpServers": {"passgate": entry}})));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| Fail::usage("HOME is not set: cannot find the client's config"))?;
    let path = config_path(&a.client, &home);
    let mut doc = if path.exists() {
        let text = read_text(&path)?;
        if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            json::parse_in(&text, Limits::POLICY, json::Context::Argument).map_err(|e| {
                Fail::check(
                    e.code(),
                    format!("{}: {e} (left unchanged)", path.display()),
                )
            })?
        }
    } else {
        Value::Object(Map::new())
    };
    let Some(root) = doc.as_object_mut() else {
        return Err(Fail::check(
            "INVALID_ARGUMENT",
            format!("{}: not a JSON object (left unchanged)", path.display()),
        ));
    };
    let servers = root
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(servers) = servers.as_object_mut() else {
        return Err(Fail::check(
            "INVALID_ARGUMENT",
            format!(
                "{}: mcpServers is not an object (left unchanged)",
                path.display()
            ),
        ));
    };
    servers.insert("passgate".into(), entry);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Fail::io(dir, &e))?;
    }
    // Write a sibling and rename it over: a crash never leaves half a config.
    let tmp = path.with_extension("json.passgate-tmp");
    std::fs::write(&tmp, format!("{}\n", pretty(&doc))).map_err(|e| Fail::io(&tmp, &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Fail::io(&path, &e))?;
    out(
        io,
        &format!("wrote mcpServers.passgate to {}", path.display()),
    )
}
