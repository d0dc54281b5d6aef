//! What a guest can do wrong to a virtqueue. A fault stops the queue until the
//! frontend sets it up again; each is counted by reason, and the queue's statistics
//! count it as an error.

/// Why a queue stopped.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The descriptor table or a ring is not inside the guest's memory.
    RingOutsideMemory = 0,
    /// The available index ran ahead of the last one seen by more than the ring holds.
    AvailIndex = 1,
    /// A chain that loops, is longer than the ring, names a descriptor past the table,
    /// or whose descriptors cannot be read.
    BadChain = 2,
    /// A buffer that is not inside the guest's memory.
    BufferOutsideMemory = 3,
    /// A device-writable buffer where the device reads, or the reverse.
    WrongDirection = 4,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::RingOutsideMemory,
        Fault::AvailIndex,
        Fault::BadChain,
        Fault::BufferOutsideMemory,
        Fault::WrongDirection,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Fault::RingOutsideMemory => "ring outside guest memory",
            Fault::AvailIndex => "available index out of range",
            Fault::BadChain => "descriptor chain loops, is too long or names a bad descriptor",
            Fault::BufferOutsideMemory => "buffer outside guest memory",
            Fault::WrongDirection => "buffer of the wrong direction",
        }
    }
}
