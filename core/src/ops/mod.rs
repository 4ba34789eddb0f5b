//! The operations of passgate as types: one argument struct per operation, from which the list
//! of operations, the JSON dispatch, each operation's JSON Schema (the MCP tools' `inputSchema`
//! and `outputSchema`) and the bindings' generic entry point are all derived.
//!
//! An operation is a struct of its arguments implementing [`Op`]: `#[derive(Deserialize,
//! JsonSchema)]` with `#[serde(deny_unknown_fields)]`, a name, a description and a `run` that
//! calls the typed [`Engine`] API. The [`operations!`] list below names each once; [`call`] runs
//! one by name on a JSON object of its snake_case arguments, [`describe`] lists them with their
//! schemas. Python, Node and MCP reach every operation through here, so adding one is one struct,
//! one `run` and one line in the list.
//!
//! Arguments are checked in three steps, each failing with `INVALID_ARGUMENT` at the argument's
//! JSON path ([`Error::path`]): an unknown argument is named with the closest known one ("did
//! you mean"); the object is validated against the operation's schema (types, required
//! arguments, ranges, lengths: the schema is the rule, for every caller alike); then it is
//! deserialised into the struct, whose own types carry the remaining rules ([`Days`], [`Ttl`]).
//! `null` is the same as an absent argument.
//!
//! ```
//! use passgate::{ops, Engine};
//! use serde_json::json;
//! let engine = Engine::builder().build().unwrap();
//! let gates = ops::call(&engine, "list_gates", json!({})).unwrap();
//! assert_eq!(gates, json!({"gates": []}));
//! let err = ops::call(&engine, "expire_holds", json!({"limt": 5})).unwrap_err();
//! assert_eq!((err.code(), err.path()), ("INVALID_ARGUMENT", Some("/limt")));
//! assert!(err.to_string().contains("did you mean \"limit\""));
//! ```

mod args;
mod catalogs;
mod checkpoints;
mod defs;
mod events;
mod settlements;

use std::collections::HashMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};

pub use args::{
    AttestationFields, AttestationFilterArgs, CounterFilterArgs, Days, TraceLabel, Ttl, VerdictArg,
};
pub use catalogs::{
    CreateCatalog, DiscoverFilter, DiscoverServices, GetCatalog, GetCatalogImpact,
    GetCatalogVersion, ListCatalogVersions, PublishCatalog, ValidCatalog, VerifyCatalog,
};
pub use checkpoints::{Checkpoint, ConsistencyProof, InclusionProof, VerifyInclusionProof};
pub use defs::*;
pub use events::{AckEvent, Acked, EventKindArg, Events};
pub use settlements::{
    ExportSettlement, GenerateSettlement, GetBillingSummary, GetSettlement, GetSlaCompliance,
    IssueConsumptionAttestation, SettlementStatus, UpdateSettlementStatus, VerifySettlement,
};

/// One operation: its arguments (this struct), name, description and what it does.
pub trait Op: DeserializeOwned + JsonSchema + Sized {
    /// The operation's snake_case name (the MCP tool names differ; see [`crate::mcp`]).
    const NAME: &'static str;
    /// What it does to the world.
    const EFFECT: Effect;
    /// What it does, in a sentence or two (shown to users and models).
    const DESCRIPTION: &'static str;
    /// What it returns.
    type Output: Serialize + JsonSchema;
    /// Runs it on `engine`.
    fn run(self, engine: &Engine) -> Result<Self::Output>;
    /// The JSON Schema of the result (`None`: any JSON value). Derived from [`Op::Output`]
    /// unless the operation returns a document built elsewhere (a decision) and states it.
    fn output_schema() -> Option<Value> {
        let s = schema_of::<Self::Output>();
        (s.get("type").is_some()).then_some(s)
    }
}

/// What an operation does to the world (the MCP tool annotations derive from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only; repeating it changes nothing.
    Reads,
    /// Adds state (a counted decision, a passport, a record); repeating adds again.
    Adds,
    /// Takes something away (a revocation, a reset, a release).
    Removes,
}

impl Effect {
    /// As [`describe`] spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Reads => "reads",
            Effect::Adds => "adds",
            Effect::Removes => "removes",
        }
    }
}

/// The description of one operation, as [`describe`] lists it.
#[derive(Debug, Clone)]
pub struct Spec {
    /// [`Op::NAME`].
    pub name: &'static str,
    /// [`Op::DESCRIPTION`].
    pub description: &'static str,
    /// [`Op::EFFECT`].
    pub effect: Effect,
    /// The JSON Schema of the argument object.
    pub input_schema: Value,
    /// The JSON Schema of the result, if it has a fixed shape.
    pub output_schema: Option<Value>,
    run: fn(&Engine, Value) -> Result<Value>,
}

impl Spec {
    fn of<O: Op>() -> Spec {
        Spec {
            name: O::NAME,
            description: O::DESCRIPTION,
            effect: O::EFFECT,
            input_schema: schema_of::<O>(),
            output_schema: O::output_schema(),
            run: run_json::<O>,
        }
    }

    /// The names of the arguments (the schema's properties), in declaration order.
    pub fn arguments(&self) -> Vec<&str> {
        self.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The arguments that must be given.
    pub fn required(&self) -> Vec<&str> {
        self.input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// This spec as JSON: `{name, description, effect, input_schema, output_schema}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name, "description": self.description, "effect": self.effect.as_str(),
            "input_schema": self.input_schema, "output_schema": self.output_schema,
        })
    }
}

/// Declares the operations: the [`Operation`] enum, [`NAMES`] and the spec table, from one list.
macro_rules! operations {
    ($($variant:ident($args:ty)),* $(,)?) => {
        /// Every operation, with its typed arguments.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)]
        pub enum Operation {
            $(
                #[doc = concat!("[`", stringify!($args), "`]")]
                $variant($args),
            )*
        }

        /// The name of every operation, in the order [`describe`] lists them.
        pub const NAMES: &[&str] = &[$(<$args as Op>::NAME),*];

        impl Operation {
            /// Parses operation `name`'s arguments (checked as [`call`] checks them).
            pub fn parse(name: &str, args: Value) -> Result<Operation> {
                $(
                    if name == <$args as Op>::NAME {
                        return Ok(Operation::$variant(parse::<$args>(args)?));
                    }
                )*
                Err(unknown_operation(name))
            }

            /// Runs it, returning the result as JSON.
            pub fn run(self, engine: &Engine) -> Result<Value> {
                match self {
                    $(Operation::$variant(a) => to_json(a.run(engine)?),)*
                }
            }

            /// Its name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Operation::$variant(_) => <$args as Op>::NAME,)*
                }
            }
        }

        fn build_specs() -> Vec<Spec> {
            vec![$(Spec::of::<$args>()),*]
        }
    };
}

operations! {
    Enforce(Enforce),
    DryRun(DryRun),
    VerifyPassport(VerifyPassport),
    RevokePassport(RevokePassport),
    Reissue(Reissue),
    IssuePassport(IssuePassport),
    GetPassport(GetPassport),
    ListPassports(ListPassports),
    ListIssuers(ListIssuers),
    TrustIssuer(TrustIssuer),
    UntrustIssuer(UntrustIssuer),
    ExportTrust(ExportTrust),
    ImportTrust(ImportTrust),
    AllowedGates(AllowedGates),
    ListMyEvaluations(ListMyEvaluations),
    Evaluate(Evaluate),
    GetEvaluation(GetEvaluation),
    PurgeBundle(PurgeBundle),
    Sessions(Sessions),
    Session(Session),
    CumulativeState(CumulativeState),
    CumulativeStatePage(CumulativeStatePage),
    ResetCumulativeState(ResetCumulativeState),
    Attestations(Attestations),
    AttestationsPage(AttestationsPage),
    AnonymousLog(AnonymousLog),
    RecordAttestation(RecordAttestation),
    ChainHead(ChainHead),
    VerifyAttestation(VerifyAttestation),
    VerifyChain(VerifyChain),
    Checkpoint(Checkpoint),
    InclusionProof(InclusionProof),
    ConsistencyProof(ConsistencyProof),
    VerifyInclusionProof(VerifyInclusionProof),
    VerifyStore(VerifyStore),
    ExportAttestations(ExportAttestations),
    VerifyExport(VerifyExport),
    Prune(Prune),
    SetPolicy(SetPolicy),
    UpsertGate(UpsertGate),
    CreateGate(CreateGate),
    UpdateGate(UpdateGate),
    DeleteGate(DeleteGate),
    SetGateConstraints(SetGateConstraints),
    SetAnonymousPolicy(SetAnonymousPolicy),
    AnonymousPolicy(AnonymousPolicy),
    ListGates(ListGates),
    GetGate(GetGate),
    ConstraintTypes(ConstraintTypes),
    Templates(Templates),
    ApplyTemplate(ApplyTemplate),
    UpsertTemplate(UpsertTemplate),
    GetConstraints(GetConstraints),
    Settle(Settle),
    Release(Release),
    ExpireHolds(ExpireHolds),
    Approve(Approve),
    DenyApproval(DenyApproval),
    CreateApiKey(CreateApiKey),
    ListApiKeys(ListApiKeys),
    RevokeApiKey(RevokeApiKey),
    AuthenticateApiKey(AuthenticateApiKey),
    Events(Events),
    AckEvent(AckEvent),
    CreateCatalog(CreateCatalog),
    PublishCatalog(PublishCatalog),
    GetCatalog(GetCatalog),
    GetCatalogVersion(GetCatalogVersion),
    ListCatalogVersions(ListCatalogVersions),
    GetCatalogImpact(GetCatalogImpact),
    DiscoverServices(DiscoverServices),
    VerifyCatalog(VerifyCatalog),
    IssueConsumptionAttestation(IssueConsumptionAttestation),
    GenerateSettlement(GenerateSettlement),
    GetSettlement(GetSettlement),
    UpdateSettlementStatus(UpdateSettlementStatus),
    ExportSettlement(ExportSettlement),
    VerifySettlement(VerifySettlement),
    GetBillingSummary(GetBillingSummary),
    GetSlaCompliance(GetSlaCompliance),
}

struct Table {
    specs: Vec<Spec>,
    index: HashMap<&'static str, usize>,
    validators: Vec<Option<jsonschema::Validator>>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let specs = build_specs();
        let index = specs.iter().enumerate().map(|(i, s)| (s.name, i)).collect();
        let validators = specs
            .iter()
            .map(|s| jsonschema::validator_for(&s.input_schema).ok())
            .collect();
        Table {
            specs,
            index,
            validators,
        }
    })
}

/// Every operation with its schemas, in [`NAMES`] order.
pub fn specs() -> &'static [Spec] {
    &table().specs
}

/// The spec of operation `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    let t = table();
    t.index.get(name).and_then(|&i| t.specs.get(i))
}

/// Every operation as JSON: `[{name, description, effect, input_schema, output_schema}]`.
pub fn describe() -> Value {
    Value::Array(specs().iter().map(Spec::to_json).collect())
}

/// Runs operation `name` on `engine` with `args` (a JSON object of its snake_case arguments;
/// `null` is no arguments), returning its result as JSON. The one JSON entry point of the
/// bindings and the MCP server.
pub fn call(engine: &Engine, name: &str, args: Value) -> Result<Value> {
    let (spec, validator) = entry(name)?;
    let args = check(spec, validator, args)?;
    (spec.run)(engine, args)
}

/// Operation `name`'s spec and compiled argument schema.
fn entry(name: &str) -> Result<(&'static Spec, Option<&'static jsonschema::Validator>)> {
    let t = table();
    let i = *t.index.get(name).ok_or_else(|| unknown_operation(name))?;
    match (t.specs.get(i), t.validators.get(i)) {
        (Some(spec), Some(validator)) => Ok((spec, validator.as_ref())),
        _ => Err(Error::Internal(format!("operation {name} has no spec"))),
    }
}

fn unknown_operation(name: &str) -> Error {
    let hint = crate::suggest::closest(name, NAMES.iter().copied())
        .map(|s| format!("did you mean {s:?}? "))
        .unwrap_or_default();
    Error::InvalidArgument(format!(
        "unknown operation {name:?} ({hint}expected one of: {})",
        NAMES.join(", ")
    ))
}

/// Parses `O`'s arguments with every check of [`call`].
pub fn parse<O: Op>(args: Value) -> Result<O> {
    let (spec, validator) = entry(O::NAME)?;
    deserialize(check(spec, validator, args)?)
}

fn run_json<O: Op>(engine: &Engine, args: Value) -> Result<Value> {
    to_json(deserialize::<O>(args)?.run(engine)?)
}

fn to_json<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(format!("result not serialisable: {e}")))
}

/// Checks `args` against the spec: an object (or null), no unknown key, valid by the schema.
/// Returns the object with `null` members removed (absent).
fn check(spec: &Spec, validator: Option<&jsonschema::Validator>, args: Value) -> Result<Value> {
    let mut map = match args {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(Error::argument(
                "",
                format!(
                    "{}: the arguments must be an object, not {}",
                    spec.name,
                    crate::json::type_name(&other)
                ),
            ))
        }
    };
    map.retain(|_, v| !v.is_null());
    let known = spec.arguments();
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        let hint = crate::suggest::closest(k, known.iter().copied())
            .map(|s| format!("did you mean {s:?}? "))
            .unwrap_or_default();
        let expected = if known.is_empty() {
            "it takes no arguments".to_string()
        } else {
            format!("expected one of: {}", known.join(", "))
        };
        return Err(Error::argument(
            format!("/{}", crate::pointer::escape(k)),
            format!("{}: unknown argument {k:?} ({hint}{expected})", spec.name),
        ));
    }
    let args = Value::Object(map);
    if let Some(v) = validator {
        if let Some(e) = v.iter_errors(&args).next() {
            let mut path = e.instance_path().to_string();
            let message = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    path = format!("{path}/{}", crate::pointer::escape(name));
                    format!("{}: {name} is required", spec.name)
                }
                _ => format!("{}: {e}", spec.name),
            };
            return Err(Error::argument(path, message));
        }
    }
    Ok(args)
}

fn deserialize<O: Op>(args: Value) -> Result<O> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        // The schema check ran first: what remains are the rules of the argument types (a
        // duration's format, a bound), whose messages say what is expected.
        let mut path = String::new();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => path.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    path.push('/');
                    path.push_str(&crate::pointer::escape(key));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        let arg = path.trim_start_matches('/').to_string();
        let inner = e.into_inner().to_string();
        let message = if arg.is_empty() {
            format!("{}: {inner}", O::NAME)
        } else {
            format!("{}: {arg}: {inner}", O::NAME)
        };
        Error::argument(path, message)
    })
}

/// The JSON Schema of `T`, inlined (no `$ref`), without `$schema` and `title`.
pub(crate) fn schema_of<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut v = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Value::Object(m) = &mut v {
        m.remove("title");
        m.remove("description");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_an_object_schema_refusing_unknown_arguments() {
        assert_eq!(specs().len(), NAMES.len());
        for s in specs() {
            assert_eq!(s.input_schema["type"], "object", "{}", s.name);
            assert_eq!(s.input_schema["additionalProperties"], false, "{}", s.name);
            assert!(
                jsonschema::validator_for(&s.input_schema).is_ok(),
                "{}",
                s.name
            );
            assert!(!s.description.is_empty(), "{}", s.name);
            let text = s.input_schema.to_string();
            assert!(!text.contains("$ref"), "{}: {text}", s.name);
        }
    }
}
