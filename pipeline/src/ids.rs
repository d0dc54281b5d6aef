//! Typed ids of the forwarding tables: indexes into their vectors, kept apart by type
//! so that a network is never looked up by a logical port's number. The packet's
//! metadata and the stage crates carry the bare numbers; they are wrapped where the
//! pipeline reads them.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $int);

        impl $name {
            /// The index into the table of such entries.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A logical port (a VM interface, a sub-port, a port on another chassis).
    LogicalPortId(u32)
);
id!(
    /// A logical network (the packet metadata's zone).
    NetworkId(u32)
);
id!(
    /// A dataplane port of this node.
    PortId(u16)
);
id!(
    /// Another chassis of the overlay.
    ChassisId(u16)
);
id!(
    /// A distributed router.
    RouterId(u32)
);
