//! `passgate catalog publish|diff` and `passgate settlement verify`: catalogs and settlements
//! from the command line, through the operation layer and the offline verifiers.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::keys::StoreArgs;
use super::{out, pretty, read_json, CliResult, Fail, Io};
use crate::json::Context;
use crate::ops;

#[derive(Subcommand, Debug)]
pub(super) enum CatalogCmd {
    /// Validate a catalog document and publish it as its gate's next version in a store; prints
    /// the published version (JSON). A bad catalog: exit 1, error[CATALOG_INVALID] at the field.
    Publish {
        /// The catalog document (JSON: {gate, trust_level, offers, ...}).
        file: PathBuf,
        #[command(flatten)]
        at: StoreArgs,
        /// What changed, in words.
        #[arg(long, value_name = "TEXT")]
        summary: Option<String>,
        /// From when its terms apply (ms since the epoch; default now).
        #[arg(long, value_name = "MS")]
        effective_at: Option<i64>,
    },
    /// The typed impact of moving from catalog OLD to NEW (two catalog documents, or published
    /// documents): prints the changes (JSON); exit 1 when one is breaking.
    Diff {
        /// The old catalog.
        old: PathBuf,
        /// The new catalog.
        new: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum SettlementCmd {
    /// Verify a settlement bundle offline (`export_settlement`'s JSON: {settlement,
    /// consumptions}): the statement's signature by DID, and its Merkle root and totals
    /// recomputed from the included consumption records (each signed by DID). Prints the
    /// verified totals; exit 1 when anything does not verify.
    Verify {
        /// The bundle file.
        file: PathBuf,
        /// The signer's did:key.
        #[arg(long, value_name = "DID")]
        did: String,
    },
}

/// A catalog from a file: the document itself, or the `catalog` of a published document.
fn catalog_of(v: Value) -> Value {
    match v.pointer("/body/catalog") {
        Some(c) => c.clone(),
        None => v,
    }
}

pub(super) fn catalog(cmd: CatalogCmd, io: &mut Io<'_>) -> CliResult {
    match cmd {
        CatalogCmd::Publish {
            file,
            at,
            summary,
            effective_at,
        } => {
            let doc = catalog_of(read_json(&file, Context::Argument)?);
            let gate = doc.get("gate").cloned().unwrap_or(Value::Null);
            let engine = super::keys::engine(&at)?;
            ops::call(
                &engine,
                "create_catalog",
                json!({"gate": gate, "catalog": doc}),
            )?;
            let published = ops::call(
                &engine,
                "publish_catalog",
                json!({"gate": gate, "change_summary": summary, "effective_at": effective_at}),
            )?;
            out(io, &pretty(&published))
        }
        CatalogCmd::Diff { old, new } => {
            let parse = |p: &PathBuf| -> std::result::Result<crate::commerce::Catalog, Fail> {
                let v = catalog_of(read_json(p, Context::Argument)?);
                crate::commerce::Catalog::from_value(&v).map_err(|e| {
                    let mut f = Fail::from(e);
                    f.message = format!("{}: {}", p.display(), f.message);
                    f
                })
            };
            let impact = crate::commerce::impact(&parse(&old)?, &parse(&new)?);
            let v = serde_json::to_value(&impact)
                .map_err(|e| Fail::from(crate::Error::Internal(e.to_string())))?;
            out(io, &pretty(&v))?;
            match impact.has_breaking_changes {
                true => Err(Fail::silent(1)),
                false => Ok(()),
            }
        }
    }
}

pub(super) fn settlement(cmd: SettlementCmd, io: &mut Io<'_>) -> CliResult {
    match cmd {
        SettlementCmd::Verify { file, did } => {
            let bundle = read_json(&file, Context::Argument)?;
            let doc = bundle.get("settlement").ok_or_else(|| {
                Fail::usage(format!(
                    "{}: not a settlement bundle ({{settlement, consumptions}})",
                    file.display()
                ))
            })?;
            let records: Option<Vec<Value>> = bundle
                .get("consumptions")
                .and_then(Value::as_array)
                .cloned();
            let v = crate::commerce::verify_settlement(doc, &did, records.as_deref())?;
            let v = serde_json::to_value(&v)
                .map_err(|e| Fail::from(crate::Error::Internal(e.to_string())))?;
            out(io, &pretty(&v))
        }
    }
}
