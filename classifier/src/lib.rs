//! Flow classifier: networking-sfc match fields compiled to a fast lookup.
//!
//! Not implemented yet: the SFC issue (#3) fills this crate.
