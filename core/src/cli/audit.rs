//! `passgate audit verify|export`: the attestation log, audited offline or in its store.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;

use super::{out, parse_time, pretty, CliResult, Fail, Io};
use crate::json::{self, Limits};
use crate::{AttestationFilter, Engine};

#[derive(Subcommand, Debug)]
pub(super) enum AuditCmd {
    /// Verify an export file (JSONL), a store's chains, or an export followed by its store.
    Verify {
        /// An export file (`audit export`, or a retention export sink).
        file: Option<PathBuf>,
        /// The store URL (sqlite:///path, redis://host/db).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// A trusted attestation signer's did:key (repeatable). Without one, the signers the
        /// records name are accepted: integrity only, reported on stderr.
        #[arg(long, value_name = "DID", num_args = 1..)]
        trust: Vec<String>,
    },
    /// Export a store's attestations as JSONL (each chain's checkpoint first when pruned).
    Export {
        /// The store URL.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Records from TIME on: RFC 3339, epoch milliseconds, or a duration ago (24h, 7d).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// The output format (JSONL only).
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// An export format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExportFormat {
    /// One record per line.
    Jsonl,
}

pub(super) fn run(cmd: AuditCmd, io: &mut Io<'_>) -> CliResult {
    match cmd {
        AuditCmd::Verify { file, store, trust } => {
            verify(file.as_deref(), store.as_deref(), trust, io)
        }
        AuditCmd::Export {
            store,
            since,
            format: ExportFormat::Jsonl,
            out,
        } => export(&store, since.as_deref(), out.as_deref(), io),
    }
}

fn store_engine(url: &str) -> std::result::Result<Engine, Fail> {
    Ok(Engine::builder().store_url(url).build()?)
}

/// The `kid`s of the records in an export file and a store (for an unpinned audit).
fn signers_seen(
    file: Option<&Path>,
    engine: Option<&Engine>,
) -> std::result::Result<Vec<String>, Fail> {
    let mut kids = std::collections::BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(k) = v.get("kid").and_then(Value::as_str) {
            kids.insert(k.to_string());
        }
    };
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| Fail::io(f, &e))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(v) = json::parse(line, Limits::PAYLOAD) {
                add(&v);
            }
        }
    }
    if let Some(engine) = engine {
        for cp in engine.store().checkpoints()? {
            add(&cp.record);
        }
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) =
                engine.attestations_page(&AttestationFilter::default(), cursor.as_deref(), 1000)?;
            page.iter().for_each(&mut add);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(kids.into_iter().collect())
}

fn verify(
    file: Option<&Path>,
    store: Option<&str>,
    mut trust: Vec<String>,
    io: &mut Io<'_>,
) -> CliResult {
    let engine = store.map(store_engine).transpose()?;
    if file.is_none() && engine.is_none() {
        return Err(Fail::usage("give an export FILE, --store URL, or both"));
    }
    if trust.is_empty() {
        trust = signers_seen(file, engine.as_ref())?;
        let _ = writeln!(
            io.stderr,
            "warning: no --trust: accepting the signers the records name ({}); this checks \
             integrity, not who signed",
            if trust.is_empty() {
                "none".to_string()
            } else {
                trust.join(", ")
            }
        );
    }
    let report = match (file, &engine) {
        (Some(f), Some(engine)) => {
            let fh = std::fs::File::open(f).map_err(|e| Fail::io(f, &e))?;
            engine.verify_export(&mut BufReader::new(fh), &trust)?
        }
        (Some(f), None) => {
            let fh = std::fs::File::open(f).map_err(|e| Fail::io(f, &e))?;
            crate::verify_export(&mut BufReader::new(fh), &[], &trust)?
        }
        (None, Some(engine)) => engine.verify_store(&trust)?,
        (None, None) => return Err(Fail::usage("give an export FILE, --store URL, or both")),
    };
    out(io, &pretty(&report))
}

/// A writer counting the lines through it, drawing `\r<n> records` on stderr as it goes.
struct Progress<'a, 'b> {
    inner: &'a mut dyn Write,
    stderr: Option<&'b mut dyn Write>,
    lines: u64,
}

impl Write for Progress<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let new = buf.iter().take(n).filter(|b| **b == b'\n').count() as u64;
        if new > 0 {
            let before = self.lines;
            self.lines += new;
            if let Some(e) = self.stderr.as_mut() {
                if before / 100 != self.lines / 100 || before == 0 {
                    let _ = write!(e, "\rexporting: {} records", self.lines);
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn export(store: &str, since: Option<&str>, path: Option<&Path>, io: &mut Io<'_>) -> CliResult {
    let engine = store_engine(store)?;
    let since_ms = since.map(|s| parse_time(s, engine.now_ms())).transpose()?;
    let mut file;
    let target: &mut dyn Write = match path {
        Some(p) => {
            file = std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| Fail::io(p, &e))?);
            &mut file
        }
        None => &mut *io.stdout,
    };
    let tty = io.stderr_tty;
    let n = {
        let mut progress = Progress {
            inner: target,
            stderr: if tty { Some(&mut *io.stderr) } else { None },
            lines: 0,
        };
        engine.export_attestations(since_ms, &mut progress)?
    };
    if tty {
        let _ = writeln!(io.stderr, "\rexported {n} records   ");
    }
    Ok(())
}
