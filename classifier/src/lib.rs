//! Flow classifier: networking-sfc match fields compiled to a fast lookup.
//!
//! [`Rule`] is one classifier (unset fields are wildcards); [`Classifier::build`]
//! compiles a rule set into a tuple space search: one hash table per distinct field
//! mask, port ranges expanded into prefix masks. A lookup costs one hash probe per
//! distinct mask (tables sorted by the best rule they hold, so the search stops early),
//! whatever the number of rules: 10,000 classifiers that differ in their addresses or
//! ports share a handful of masks.
//!
//! Tuple space search rather than a decision tree because networking-sfc rule sets are
//! mostly exact logical ports and host or subnet prefixes (few masks), it builds in
//! linear time, and its lookup has no worst case driven by rule overlap.

mod key;
mod rule;
mod tuple;

pub use key::Key;
pub use rule::{Prefix, Rule};
pub use tuple::Classifier;
