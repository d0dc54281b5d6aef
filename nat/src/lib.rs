//! Connection tracking and distributed SNAT.
//!
//! Not implemented yet: the SNAT issue (#4) fills this crate.
