//! Fixed-capacity bursts: the unit a worker receives, processes and transmits.

use crate::buffer::Packet;

/// The largest burst the dataplane handles.
pub const MAX_BURST: usize = 256;

/// A burst of packets. Its storage is allocated once, when the burst is created, and
/// reused: pushing never allocates and refuses past the capacity.
pub struct Burst {
    packets: Vec<Packet>,
    capacity: usize,
}

impl Burst {
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_BURST);
        Burst {
            packets: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.packets.len() == self.capacity
    }

    /// Adds a packet; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, packet: Packet) -> Result<(), Packet> {
        if self.is_full() {
            return Err(packet);
        }
        self.packets.push(packet);
        Ok(())
    }

    /// Takes every packet out, in order, leaving the burst empty (its storage kept).
    #[inline]
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.packets.drain(..)
    }

    /// Passes packets from the front to `send` until it refuses one: the refused one
    /// and those behind it stay, in order. Returns how many were taken.
    pub fn send_while(&mut self, mut send: impl FnMut(Packet) -> Result<(), Packet>) -> usize {
        // Reversed, the front is the cheap end to pop from and push back onto.
        self.packets.reverse();
        let mut sent = 0;
        while let Some(packet) = self.packets.pop() {
            if let Err(packet) = send(packet) {
                self.packets.push(packet);
                break;
            }
            sent += 1;
        }
        self.packets.reverse();
        sent
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Packet> {
        self.packets.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Packet> {
        self.packets.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::{Pool, PoolConfig};

    #[test]
    fn send_while_keeps_the_refused_tail_in_order() {
        let mut pool = Pool::new(PoolConfig::default());
        let mut burst = Burst::with_capacity(4);
        for byte in 0..4u8 {
            burst.push(pool.alloc_copy(&[byte]).unwrap()).unwrap();
        }
        let mut taken = Vec::new();
        let sent = burst.send_while(|packet| {
            if taken.len() == 2 {
                return Err(packet);
            }
            taken.push(packet.data()[0]);
            pool.free(packet);
            Ok(())
        });
        assert_eq!((sent, taken), (2, vec![0, 1]));
        let left: Vec<u8> = burst.iter().map(|p| p.data()[0]).collect();
        assert_eq!(left, vec![2, 3]);
    }

    #[test]
    fn refuses_past_capacity_and_drains_in_order() {
        let mut pool = Pool::new(PoolConfig {
            buffers: 3,
            ..PoolConfig::default()
        });
        let mut burst = Burst::with_capacity(2);
        for byte in 0..2u8 {
            burst.push(pool.alloc_copy(&[byte]).unwrap()).unwrap();
        }
        let extra = pool.alloc_copy(&[9]).unwrap();
        let refused = burst.push(extra).unwrap_err();
        assert_eq!(refused.data(), &[9]);
        let order: Vec<u8> = burst.drain().map(|p| p.data()[0]).collect();
        assert_eq!(order, vec![0, 1]);
        assert!(burst.is_empty());
        assert_eq!(burst.capacity(), 2);
    }

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(Burst::with_capacity(0).capacity(), 1);
        assert_eq!(Burst::with_capacity(10_000).capacity(), MAX_BURST);
    }
}
