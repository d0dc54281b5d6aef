//! Which worker processes a packet: the one its flow hashes to, symmetrically, so
//! both directions of a connection meet the same connection-tracking shard.

use packet::{parse, Packet};

/// The worker for `packet`, among `workers`; `local` keeps frames that do not parse
/// (they are dropped where they are). The metadata is kept for the pipeline, so the
/// frame is not parsed twice.
pub fn worker_for(packet: &mut Packet, workers: usize, local: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    if !packet.meta.parsed {
        match parse(packet.data()) {
            Ok(meta) => packet.meta = meta,
            Err(_) => return local,
        }
    }
    (packet.meta.flow.symmetric_hash() % workers as u64) as usize
}
