//! VXLAN encapsulation and decapsulation, VTEP and forwarding tables.
//!
//! Not implemented yet: the VXLAN issue (#5) fills this crate.
