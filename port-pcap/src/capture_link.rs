//! What a capture's link type says about its frames, and how each becomes the
//! Ethernet frame the pipeline takes: Ethernet as is; Linux cooked captures (`tcpdump
//! -i any`, SLL and SLL2) get an Ethernet header from their protocol and source
//! address; raw IPv4/IPv6 captures a synthetic one. The cooked and raw link types do
//! not record the destination MAC (nor, for raw IP, the source): those bytes are
//! zero, or all ones for a frame the cooked header marks as broadcast.

use pcap_file::DataLink;

const ETHERNET_HEADER: usize = 14;
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Protocol values below this are not Ethernet types (802.3 lengths, Linux's
/// ETH_P_802_2 and the like).
const FIRST_ETHERTYPE: u16 = 0x0600;
/// The cooked header's packet type for a link-layer broadcast.
const PACKET_BROADCAST: u16 = 1;
const BROADCAST: [u8; 6] = [0xff; 6];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureLink {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    /// LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6: the IP version nibble decides.
    RawIp,
}

impl CaptureLink {
    /// The link types replay reads; any other is refused, naming it.
    pub fn from_datalink(link: DataLink) -> Result<CaptureLink, String> {
        match link {
            DataLink::ETHERNET => Ok(CaptureLink::Ethernet),
            DataLink::LINUX_SLL => Ok(CaptureLink::LinuxSll),
            DataLink::LINUX_SLL2 => Ok(CaptureLink::LinuxSll2),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Ok(CaptureLink::RawIp),
            other => Err(format!(
                "link type {other:?}; captures of Ethernet, Linux cooked (LINUX_SLL, \
                 LINUX_SLL2) or raw IP (RAW, IPV4, IPV6) can be replayed"
            )),
        }
    }

    /// The frame as Ethernet, or `None` when the captured bytes cannot be one (a
    /// cooked header cut short, a protocol that is no Ethernet type, not IP).
    pub fn to_ethernet(self, data: Vec<u8>) -> Option<Vec<u8>> {
        match self {
            CaptureLink::Ethernet => Some(data),
            CaptureLink::LinuxSll => {
                let header = data.get(..SLL_HEADER)?;
                let packet_type = u16::from_be_bytes([header[0], header[1]]);
                let address_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
                let protocol = u16::from_be_bytes([header[14], header[15]]);
                let source = mac(&header[6..14], address_len);
                ethernet(packet_type, source, protocol, &data[SLL_HEADER..])
            }
            CaptureLink::LinuxSll2 => {
                let header = data.get(..SLL2_HEADER)?;
                let protocol = u16::from_be_bytes([header[0], header[1]]);
                let packet_type = u16::from(header[10]);
                let address_len = usize::from(header[11]);
                let source = mac(&header[12..20], address_len);
                ethernet(packet_type, source, protocol, &data[SLL2_HEADER..])
            }
            CaptureLink::RawIp => {
                let protocol = match data.first()? >> 4 {
                    4 => ETHERTYPE_IPV4,
                    6 => ETHERTYPE_IPV6,
                    _ => return None,
                };
                ethernet(0, [0; 6], protocol, &data)
            }
        }
    }
}

/// A six-byte link-layer address, or zeros when the capture holds another kind.
fn mac(address: &[u8], len: usize) -> [u8; 6] {
    let mut mac = [0; 6];
    if len == 6 {
        mac.copy_from_slice(&address[..6]);
    }
    mac
}

fn ethernet(packet_type: u16, source: [u8; 6], protocol: u16, payload: &[u8]) -> Option<Vec<u8>> {
    if protocol < FIRST_ETHERTYPE {
        return None;
    }
    let destination = if packet_type == PACKET_BROADCAST {
        BROADCAST
    } else {
        [0; 6]
    };
    let mut frame = Vec::with_capacity(ETHERNET_HEADER + payload.len());
    frame.extend_from_slice(&destination);
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(payload);
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPV4: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn cooked_v1_takes_source_and_protocol_from_its_header() {
        let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0xaa, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&IPV4);
        let frame = CaptureLink::LinuxSll.to_ethernet(sll).unwrap();
        assert_eq!(
            frame,
            [0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0xaa, 0x08, 0x00, 0x45, 0, 0, 20]
        );
    }

    #[test]
    fn cooked_v2_broadcast_gets_the_broadcast_destination() {
        let mut sll2 = vec![
            0x08, 0x06, 0, 0, 0, 0, 0, 3, 0, 1, 1, 6, 2, 0, 0, 0, 0, 0xbb, 0, 0,
        ];
        sll2.extend_from_slice(&[1, 2, 3]);
        let frame = CaptureLink::LinuxSll2.to_ethernet(sll2).unwrap();
        assert_eq!(&frame[..6], &BROADCAST);
        assert_eq!(&frame[6..12], &[2, 0, 0, 0, 0, 0xbb]);
        assert_eq!(&frame[12..], &[0x08, 0x06, 1, 2, 3]);
    }

    #[test]
    fn raw_ip_gets_the_type_of_its_version() {
        let frame = CaptureLink::RawIp.to_ethernet(IPV4.to_vec()).unwrap();
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        let frame = CaptureLink::RawIp.to_ethernet(vec![0x60, 0, 0, 0]).unwrap();
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        assert_eq!(&frame[..12], &[0; 12]);
    }

    #[test]
    fn what_cannot_be_ethernet_is_none() {
        assert_eq!(CaptureLink::LinuxSll.to_ethernet(vec![0; 15]), None);
        assert_eq!(CaptureLink::LinuxSll2.to_ethernet(vec![0; 19]), None);
        // ETH_P_802_2 (an 802.3 frame's LLC payload) is no Ethernet type.
        let mut sll = vec![0; 16];
        sll[15] = 4;
        assert_eq!(CaptureLink::LinuxSll.to_ethernet(sll), None);
        assert_eq!(CaptureLink::RawIp.to_ethernet(vec![0x20, 0]), None);
        assert_eq!(CaptureLink::RawIp.to_ethernet(vec![]), None);
    }

    #[test]
    fn other_link_types_are_refused_by_name() {
        let error = CaptureLink::from_datalink(DataLink::IEEE802_11).unwrap_err();
        assert!(error.starts_with("link type IEEE802_11;"), "{error}");
    }
}
