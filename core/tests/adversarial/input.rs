//! Attacks through payload values: what the agent puts in its arguments.
