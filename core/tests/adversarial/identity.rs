//! Attacks on identity and trust: forged approvals, minted sub-passports, escaped limits.
