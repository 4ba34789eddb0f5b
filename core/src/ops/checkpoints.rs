//! The checkpointed-signing operations: `checkpoint`, `inclusion_proof`, `consistency_proof`
//! and `verify_inclusion_proof` (see [`crate::engine::Signing`] and [`crate::merkle`]).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::defs::Valid;
use super::{Effect, Op};
use crate::engine::{Engine, ProofTarget};
use crate::error::{Error, Result};

/// `checkpoint`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {}

impl Op for Checkpoint {
    const NAME: &'static str = "checkpoint";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Write a signed tree head (a checkpoint record covering every record of this engine's chain so far) unless the chain's last record is one; returns the newest head.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.checkpoint()
    }
}

/// `inclusion_proof`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The decision's evaluation id (any chain of the store). Give this or `seq`.
    #[schemars(length(min = 1, max = 256))]
    pub evaluation_id: Option<String>,
    /// A record of this engine's chain, by seq. Give this or `evaluation_id`.
    #[schemars(range(min = 1))]
    pub seq: Option<u64>,
    /// The tree size of the head to prove against (a checkpoint's `data.tree_size`; default:
    /// the newest head).
    pub tree_size: Option<u64>,
}

impl Op for InclusionProof {
    const NAME: &'static str = "inclusion_proof";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The RFC 9162 inclusion proof of a record (a decision by evaluation_id, or a seq of this engine's chain) against a signed checkpoint: {seq, leaf_index, leaf_hash, tree_size, proof, head}. CHECKPOINT_PENDING until a checkpoint covers it.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let target = match (self.evaluation_id, self.seq) {
            (Some(id), None) => ProofTarget::EvaluationId(id),
            (None, Some(seq)) => ProofTarget::Seq(seq),
            _ => {
                return Err(Error::argument(
                    "/evaluation_id",
                    "give exactly one of evaluation_id and seq",
                ))
            }
        };
        engine.inclusion_proof(&target, self.tree_size)
    }
}

/// `consistency_proof`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older tree size (a checkpoint's `data.tree_size`), at least 1.
    #[schemars(range(min = 1))]
    pub old_size: u64,
    /// The newer tree size, at least `old_size` and at most the chain's length.
    #[schemars(range(min = 1))]
    pub new_size: u64,
}

impl Op for ConsistencyProof {
    const NAME: &'static str = "consistency_proof";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The RFC 9162 consistency proof between this engine's chain at old_size and at new_size records: {old_size, new_size, proof}.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.consistency_proof(self.old_size, self.new_size)
    }
}

/// `verify_inclusion_proof`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInclusionProof {
    /// The record (signed or not).
    pub record: Map<String, Value>,
    /// What `inclusion_proof` returned for it.
    pub proof: Map<String, Value>,
    /// The signer's did:key (default: this engine's).
    pub did: Option<String>,
}

impl Op for VerifyInclusionProof {
    const NAME: &'static str = "verify_inclusion_proof";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify that a record is in the signed log: its hash and leaf, the checkpoint's signature, and the inclusion path to the checkpoint's root.";
    type Output = Valid;
    fn run(self, engine: &Engine) -> Result<Valid> {
        let did = self.did.as_deref().unwrap_or(engine.signer_did());
        crate::attestation::verify_inclusion_proof(
            &Value::Object(self.record),
            &Value::Object(self.proof),
            did,
        )?;
        Ok(Valid { valid: true })
    }
}
