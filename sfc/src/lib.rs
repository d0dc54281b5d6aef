//! Service function chaining: chains, groups, pairs; MPLS / NSH encap-decap; proxy.
//!
//! Not implemented yet: the SFC issue (#3) fills this crate.
