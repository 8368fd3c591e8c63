//! docs/delta-semantics.md, rule by rule: each test is the rule's example.
