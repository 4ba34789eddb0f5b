//! The `passgate` command line (cargo feature `cli`): every subcommand's logic, once, for the
//! Python console script and the npm `bin` alike ([`main`]).
//!
//! Exit codes: 0 ok; 1 the check failed (lint errors, failed tests, a bad chain, a refused
//! passport); 2 a usage error; 3 an I/O or store error. Errors go to stderr as
//! `error[CODE]: message`, `CODE` being the passgate error code (`USAGE` and `IO` for the
//! command line's own).

mod audit;
mod cases;
mod commerce;
mod http;
mod init;
mod keys;
mod lint;
mod serve;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::error::Family;
use crate::json::{self, Context, Limits};
use crate::{Engine, Error, Issuer, PassportRequest};

/// The exit codes, as `passgate --help` documents them.
const EXIT_CODES: &str = "Exit codes:
  0  ok
  1  the check failed (lint errors, failed tests, a bad chain, a refused passport)
  2  usage error
  3  I/O or store error

Errors are written to stderr as `error[CODE]: message` (CODE: the passgate error code).";

/// passgate: authorization for AI agents — passports, policies, attestations, an MCP server.
#[derive(Parser, Debug)]
#[command(name = "passgate", version, after_help = EXIT_CODES, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate a new issuer key: its did:key and secret, as JSON.
    Keygen {
        /// Write the key to FILE (mode 0600) instead of stdout; prints the did.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Issue a passport signed by an issuer key; prints the token.
    Issue(IssueArgs),
    /// Verify a passport against trusted issuers; prints its claims (exit 1 when refused).
    Verify {
        /// The passport token, or `-` to read it from stdin.
        token: String,
        /// A trusted issuer's did:key (repeatable).
        #[arg(long, value_name = "DID", required = true, num_args = 1..)]
        trust: Vec<String>,
    },
    /// Lint and test policies.
    Policy {
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    /// Verify and export the attestation log.
    Audit {
        #[command(subcommand)]
        cmd: audit::AuditCmd,
    },
    /// Create, list and revoke API keys in a store.
    Keys {
        #[command(subcommand)]
        cmd: keys::KeysCmd,
    },
    /// Serve passgate's MCP tools.
    Mcp {
        #[command(subcommand)]
        cmd: McpCmd,
    },
    /// Print (or with --write, install) an MCP client's config entry running `passgate mcp serve`.
    Init(init::InitArgs),
    /// Publish a catalog to a store, or diff two catalogs.
    Catalog {
        #[command(subcommand)]
        cmd: commerce::CatalogCmd,
    },
    /// Verify a settlement bundle offline.
    Settlement {
        #[command(subcommand)]
        cmd: commerce::SettlementCmd,
    },
}

#[derive(Args, Debug)]
struct IssueArgs {
    /// The issuer key file (`passgate keygen --out FILE`), or a file holding the bare secret.
    #[arg(long, value_name = "FILE")]
    issuer_key: PathBuf,
    /// The agent id (`sub`).
    #[arg(long, value_name = "ID")]
    agent: String,
    /// A permission granted (repeatable, or several after one --perm).
    #[arg(long = "perm", value_name = "P", required = true, num_args = 1..)]
    perms: Vec<String>,
    /// Lifetime: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// A caveat, as JSON (repeatable).
    #[arg(long, value_name = "JSON")]
    caveat: Vec<String>,
    /// The agent's display name.
    #[arg(long)]
    name: Option<String>,
    /// Print the issued passport as JSON (token, passport_id, the agent's private key) instead
    /// of the token alone.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Compile policies and report errors as FILE:LINE:COL: error[CODE] at /path: message.
    Lint {
        /// Policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run test cases (the tests/cases format): one line per case, then a summary.
    Test {
        /// Case files, or directories of them (their *.json files, not recursive).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The policy of cases that name none.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum McpCmd {
    /// Serve the MCP tools on stdio (newline-delimited JSON-RPC; logs on stderr), or over HTTP
    /// with --http PORT (Streamable HTTP; the caller is who its bearer credential says).
    Serve(serve::ServeArgs),
}

/// An output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Lines for people.
    Text,
    /// JSON.
    Json,
}

/// A failure of a command: the code printed, and the exit code.
#[derive(Debug)]
pub(crate) struct Fail {
    code: String,
    message: String,
    exit: i32,
}

impl Fail {
    /// A check that failed (exit 1).
    fn check(code: &str, message: impl Into<String>) -> Fail {
        Fail {
            code: code.into(),
            message: message.into(),
            exit: 1,
        }
    }

    /// A usage error (exit 2).
    fn usage(message: impl Into<String>) -> Fail {
        Fail {
            code: "USAGE".into(),
            message: message.into(),
            exit: 2,
        }
    }

    /// An I/O error on `path` (exit 3).
    fn io(path: &Path, e: &std::io::Error) -> Fail {
        Fail {
            code: "IO".into(),
            message: format!("{}: {e}", path.display()),
            exit: 3,
        }
    }

    /// An exit code with nothing more to print (the command already reported).
    fn silent(exit: i32) -> Fail {
        Fail {
            code: String::new(),
            message: String::new(),
            exit,
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let exit = match (e.family(), e.code()) {
            (Family::Store, _) => 3,
            (_, "INVALID_ARGUMENT") => 2,
            _ => 1,
        };
        Fail {
            code: e.code().into(),
            message: e.to_string(),
            exit,
        }
    }
}

type CliResult = std::result::Result<(), Fail>;

/// The process's standard streams, or buffers in tests.
pub struct Io<'a> {
    /// Standard input.
    pub stdin: &'a mut dyn BufRead,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error.
    pub stderr: &'a mut dyn Write,
    /// Whether stderr is a terminal (progress bars are drawn only then).
    pub stderr_tty: bool,
}

/// Runs the `passgate` command with `args` (without the program name) on the process's
/// standard streams; returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let stderr_tty = stderr.is_terminal();
    let code = run(
        args,
        &mut Io {
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            stderr_tty,
        },
    );
    let _ = stdout.flush();
    code
}

/// [`main`] on the given streams.
pub fn run(args: Vec<String>, io: &mut Io<'_>) -> i32 {
    let argv = std::iter::once("passgate".to_string()).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = write!(io.stdout, "{text}");
                    0
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = write!(io.stderr, "{text}");
                    2
                }
                _ => {
                    let text = text.strip_prefix("error: ").unwrap_or(&text);
                    let _ = write!(io.stderr, "error[USAGE]: {text}");
                    2
                }
            };
        }
    };
    match dispatch(cli.cmd, io) {
        Ok(()) => 0,
        Err(f) => {
            if !f.code.is_empty() {
                let _ = writeln!(io.stderr, "error[{}]: {}", f.code, f.message);
            }
            f.exit
        }
    }
}

fn dispatch(cmd: Cmd, io: &mut Io<'_>) -> CliResult {
    match cmd {
        Cmd::Keygen { out } => keygen(out.as_deref(), io),
        Cmd::Issue(a) => issue(&a, io),
        Cmd::Verify { token, trust } => verify(&token, &trust, io),
        Cmd::Policy {
            cmd: PolicyCmd::Lint { files, format },
        } => lint::lint(&files, format, io),
        Cmd::Policy {
            cmd: PolicyCmd::Test { paths, policy },
        } => cases::test(&paths, policy.as_deref(), io),
        Cmd::Audit { cmd } => audit::run(cmd, io),
        Cmd::Keys { cmd } => keys::run(cmd, io),
        Cmd::Mcp {
            cmd: McpCmd::Serve(a),
        } => serve::serve(&a, io),
        Cmd::Init(a) => init::init(&a, io),
        Cmd::Catalog { cmd } => commerce::catalog(cmd, io),
        Cmd::Settlement { cmd } => commerce::settlement(cmd, io),
    }
}

fn out(io: &mut Io<'_>, text: &str) -> CliResult {
    writeln!(io.stdout, "{text}").map_err(|e| Fail::io(Path::new("<stdout>"), &e))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Reads a file as text.
fn read_text(path: &Path) -> std::result::Result<String, Fail> {
    std::fs::read_to_string(path).map_err(|e| Fail::io(path, &e))
}

/// Reads a JSON file strictly (duplicate keys refused) with `ctx`'s error code.
fn read_json(path: &Path, ctx: Context) -> std::result::Result<Value, Fail> {
    let text = read_text(path)?;
    json::parse_in(&text, Limits::POLICY, ctx).map_err(|e| {
        let mut f = Fail::from(e);
        f.message = format!("{}: {}", path.display(), f.message);
        f
    })
}

/// Writes `text` to a new or truncated file readable by its owner only (0600 on Unix).
fn write_private(path: &Path, text: &str) -> CliResult {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Fail::io(path, &e))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: narrow it.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Fail::io(path, &e))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| Fail::io(path, &e))
}

fn keygen(path: Option<&Path>, io: &mut Io<'_>) -> CliResult {
    let issuer = Issuer::generate()?;
    let key = json!({"did": issuer.did(), "secret": issuer.secret()});
    match path {
        Some(p) => {
            write_private(p, &format!("{}\n", pretty(&key)))?;
            out(io, issuer.did())
        }
        None => out(io, &pretty(&key)),
    }
}

/// The issuer in a key file: `{"secret": …}` (keygen's) or the bare secret.
fn load_issuer(path: &Path) -> std::result::Result<Issuer, Fail> {
    let text = read_text(path)?;
    let text = text.trim();
    let secret = if text.starts_with('{') {
        let v = json::parse_in(text, Limits::PAYLOAD, Context::Argument)?;
        v.get("secret")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Fail::check(
                    "KEY_INVALID",
                    format!("{}: no \"secret\" in the key file", path.display()),
                )
            })?
    } else {
        text.to_string()
    };
    Ok(Issuer::from_secret(&secret)?)
}

/// A duration: seconds, or a number followed by `s`, `m`, `h` or `d`.
fn parse_duration(text: &str) -> std::result::Result<i64, Fail> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (t.get(..i).unwrap_or(""), c),
        _ => (t, 's'),
    };
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => {
            return Err(Fail::usage(format!(
                "bad duration {text:?}: use s, m, h or d"
            )))
        }
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| Fail::usage(format!("bad duration {text:?}: a positive number, e.g. 1h")))
}

fn issue(a: &IssueArgs, io: &mut Io<'_>) -> CliResult {
    // Usage errors first: nothing is read before the command line is known to be right.
    let ttl = parse_duration(&a.ttl)?;
    let issuer = load_issuer(&a.issuer_key)?;
    let mut req =
        PassportRequest::new(a.agent.clone(), a.perms.iter().cloned()).with_expires_in_secs(ttl);
    if let Some(n) = &a.name {
        req = req.with_name(n.clone());
    }
    for c in &a.caveat {
        let v = json::parse_in(c, Limits::PAYLOAD, Context::Argument)
            .map_err(|e| Fail::usage(format!("--caveat: {e}")))?;
        req = req.with_caveat(v);
    }
    let issued = issuer.issue_passport(&req)?;
    if a.json {
        let v = serde_json::to_value(&issued).map_err(|e| Error::Internal(e.to_string()))?;
        out(io, &pretty(&v))
    } else {
        out(io, &issued.token)
    }
}

fn verify(token: &str, trust: &[String], io: &mut Io<'_>) -> CliResult {
    let token = if token == "-" {
        let mut s = String::new();
        io.stdin
            .read_to_string(&mut s)
            .map_err(|e| Fail::io(Path::new("<stdin>"), &e))?;
        s
    } else {
        token.to_string()
    };
    let engine = Engine::builder()
        .trusted_issuers(trust.iter().cloned())
        .build()?;
    let claims = engine.verify_passport(token.trim())?;
    out(io, &pretty(&claims))
}

/// A time: RFC 3339, milliseconds since the epoch, or a duration ago (`24h`, `7d`).
fn parse_time(text: &str, now_ms: i64) -> std::result::Result<i64, Fail> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let secs = parse_duration(text).map_err(|_| {
        Fail::usage(format!(
            "bad time {text:?}: RFC 3339, epoch milliseconds, or a duration ago like 24h"
        ))
    })?;
    Ok(now_ms.saturating_sub(secs.saturating_mul(1000)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The README's example command lines (the `sh` block of "Command line") parse.
    #[test]
    fn readme_command_lines_parse() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let section = readme.split("\n## Command line\n").nth(1).unwrap();
        let block = section
            .split("```sh\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let text = block.replace("\\\n", " ");
        let mut n = 0;
        for line in text.lines() {
            // Up to a comment or a redirection.
            let words: Vec<&str> = line
                .split_whitespace()
                .take_while(|w| !w.starts_with('#') && !w.starts_with('<') && !w.starts_with('>'))
                .collect();
            assert_eq!(words.first(), Some(&"passgate"), "{line}");
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{line}: {e}");
            }
            n += 1;
        }
        assert!(n >= 10, "{n}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1h", 10_000_000).unwrap(),
            10_000_000 - 3_600_000
        );
        assert_eq!(parse_time("1970-01-01T00:00:01Z", 0).unwrap(), 1000);
        assert_eq!(parse_time("1234", 0).unwrap(), 1234);
        assert!(parse_time("yesterday", 0).is_err());
    }
}
