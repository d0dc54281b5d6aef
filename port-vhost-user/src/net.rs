//! The virtio-net device this port presents: the feature bits it offers, the header
//! in front of every frame, and its configuration space.

/// virtio-net feature bits (virtio 1.2, 5.1.3) and transport bits (6).
pub mod feature {
    pub const NET_MRG_RXBUF: u64 = 1 << 15;
    pub const NET_STATUS: u64 = 1 << 16;
    pub const NET_MQ: u64 = 1 << 22;
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// vhost-user: the frontend may negotiate protocol features.
    pub const PROTOCOL_FEATURES: u64 = 1 << 30;
    pub const VERSION_1: u64 = 1 << 32;
}

/// What the port offers. Checksum and segmentation offloads are not offered: the
/// guest sends complete frames with complete checksums and receives the same.
pub const OFFERED_FEATURES: u64 = feature::VERSION_1
    | feature::NET_MRG_RXBUF
    | feature::NET_STATUS
    | feature::NET_MQ
    | feature::RING_INDIRECT_DESC
    | feature::RING_EVENT_IDX
    | feature::PROTOCOL_FEATURES;

/// The header's length: `virtio_net_hdr_mrg_rxbuf` (12 bytes) with VERSION_1 or
/// MRG_RXBUF, the legacy `virtio_net_hdr` (10 bytes) otherwise.
pub fn header_len(features: u64) -> usize {
    if features & (feature::VERSION_1 | feature::NET_MRG_RXBUF) != 0 {
        12
    } else {
        10
    }
}

/// Where `num_buffers` sits in the 12-byte header.
pub const NUM_BUFFERS_OFFSET: usize = 10;

/// `VIRTIO_NET_S_LINK_UP` in the configuration's status field.
const LINK_UP: u16 = 1;

/// The configuration space (`struct virtio_net_config` up to `mtu`): the MAC (none
/// offered: zeros), the link status, the queue pairs and the MTU.
pub fn config_space(queue_pairs: u16, mtu: u16) -> [u8; 12] {
    let mut config = [0u8; 12];
    config[6..8].copy_from_slice(&LINK_UP.to_le_bytes());
    config[8..10].copy_from_slice(&queue_pairs.to_le_bytes());
    config[10..12].copy_from_slice(&mtu.to_le_bytes());
    config
}
