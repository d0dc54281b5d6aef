//! ARP over Ethernet for IPv4 (RFC 826): a view on the 28-byte message, the request
//! frame the node sends, and the in-place rewrite of a request into its reply.

use std::net::Ipv4Addr;

use crate::meta::ether_type;
use crate::MacAddr;

/// Length of an Ethernet/IPv4 ARP message.
pub const MESSAGE_LEN: usize = 28;
/// An untagged Ethernet frame carrying an ARP message (without padding).
pub const FRAME_LEN: usize = 14 + MESSAGE_LEN;
pub const REQUEST: u16 = 1;
pub const REPLY: u16 = 2;

/// Hardware type Ethernet, protocol IPv4, address lengths 6 and 4.
const ETHERNET_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];

/// Read access to an ARP message (the bytes after the Ethernet header).
#[derive(Debug, Clone, Copy)]
pub struct ArpView<'a>(&'a [u8; MESSAGE_LEN]);

impl<'a> ArpView<'a> {
    /// The view on the first 28 bytes of `message`, `None` when it is shorter.
    pub fn new(message: &'a [u8]) -> Option<Self> {
        message.get(..MESSAGE_LEN)?.try_into().ok().map(ArpView)
    }

    pub fn operation(&self) -> u16 {
        u16::from_be_bytes([self.0[6], self.0[7]])
    }

    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(self.bytes::<6>(8))
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(14))
    }

    pub fn target_mac(&self) -> MacAddr {
        MacAddr(self.bytes::<6>(18))
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(24))
    }

    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.0[at..at + N]);
        out
    }
}

/// Writes into `frame` (at least [`FRAME_LEN`] bytes) a broadcast request from
/// `mac`/`own` asking for `target`'s MAC; `false` when `frame` is too short.
pub fn write_request_frame(
    frame: &mut [u8],
    mac: MacAddr,
    own: Ipv4Addr,
    target: Ipv4Addr,
) -> bool {
    let Some(frame) = frame.get_mut(..FRAME_LEN) else {
        return false;
    };
    frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ether_type::ARP.to_be_bytes());
    let arp = &mut frame[14..];
    arp[0..6].copy_from_slice(&ETHERNET_IPV4);
    arp[6..8].copy_from_slice(&REQUEST.to_be_bytes());
    arp[8..14].copy_from_slice(&mac.0);
    arp[14..18].copy_from_slice(&own.octets());
    arp[18..24].copy_from_slice(&[0; 6]);
    arp[24..28].copy_from_slice(&target.octets());
    true
}

/// Rewrites the ARP message `message` in place into the reply from `answer`: the
/// operation becomes reply, the asked-for address is the sender with `answer`'s
/// MAC, and the asker becomes the target. `false` (nothing written) when `message`
/// is shorter than [`MESSAGE_LEN`].
pub fn turn_into_reply(message: &mut [u8], answer: MacAddr) -> bool {
    let Some(arp) = message.get_mut(..MESSAGE_LEN) else {
        return false;
    };
    let mut sender = [0u8; 10];
    sender.copy_from_slice(&arp[8..18]);
    let mut target_ip = [0u8; 4];
    target_ip.copy_from_slice(&arp[24..28]);
    arp[6..8].copy_from_slice(&REPLY.to_be_bytes());
    arp[8..14].copy_from_slice(&answer.0);
    arp[14..18].copy_from_slice(&target_ip);
    arp[18..28].copy_from_slice(&sender);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, Ethernet2Header};

    const ASKER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const ANSWER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

    fn request_message() -> Vec<u8> {
        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            ArpOperation::REQUEST,
            &ASKER_MAC,
            &[10, 0, 0, 1],
            &[0; 6],
            &[10, 0, 0, 2],
        )
        .unwrap();
        arp.to_bytes().to_vec()
    }

    #[test]
    fn view_reads_an_etherparse_request() {
        let message = request_message();
        let view = ArpView::new(&message).unwrap();
        assert_eq!(view.operation(), REQUEST);
        assert_eq!(view.sender_mac(), MacAddr(ASKER_MAC));
        assert_eq!(view.sender_ip(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(view.target_mac(), MacAddr::ZERO);
        assert_eq!(view.target_ip(), Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn view_refuses_a_truncated_message() {
        let message = request_message();
        assert!(ArpView::new(&message[..MESSAGE_LEN - 1]).is_none());
    }

    #[test]
    fn request_frame_parses_back_with_etherparse() {
        let mut frame = [0xeeu8; FRAME_LEN + 4];
        let own = Ipv4Addr::new(192, 0, 2, 1);
        let target = Ipv4Addr::new(192, 0, 2, 9);
        assert!(write_request_frame(
            &mut frame,
            MacAddr(ASKER_MAC),
            own,
            target
        ));
        assert_eq!(
            frame[FRAME_LEN..],
            [0xee; 4],
            "nothing written past the frame"
        );
        let (ethernet, rest) = Ethernet2Header::from_slice(&frame[..FRAME_LEN]).unwrap();
        assert_eq!(ethernet.destination, [0xff; 6]);
        assert_eq!(ethernet.source, ASKER_MAC);
        assert_eq!(ethernet.ether_type, EtherType::ARP);
        let arp = ArpPacket::from_slice(rest).unwrap();
        assert_eq!(arp.hw_addr_type, ArpHardwareId::ETHERNET);
        assert_eq!(arp.proto_addr_type, EtherType::IPV4);
        assert_eq!(arp.operation, ArpOperation::REQUEST);
        assert_eq!(arp.sender_hw_addr(), ASKER_MAC);
        assert_eq!(arp.sender_protocol_addr(), own.octets());
        assert_eq!(arp.target_hw_addr(), [0; 6]);
        assert_eq!(arp.target_protocol_addr(), target.octets());
    }

    #[test]
    fn request_frame_needs_room() {
        let mut frame = [0u8; FRAME_LEN - 1];
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert!(!write_request_frame(&mut frame, MacAddr(ASKER_MAC), ip, ip));
        assert_eq!(frame, [0; FRAME_LEN - 1]);
    }

    #[test]
    fn reply_swaps_asker_and_answer() {
        let mut message = request_message();
        assert!(turn_into_reply(&mut message, MacAddr(ANSWER_MAC)));
        let arp = ArpPacket::from_slice(&message).unwrap();
        assert_eq!(arp.hw_addr_type, ArpHardwareId::ETHERNET);
        assert_eq!(arp.operation, ArpOperation::REPLY);
        assert_eq!(arp.sender_hw_addr(), ANSWER_MAC);
        assert_eq!(arp.sender_protocol_addr(), [10, 0, 0, 2]);
        assert_eq!(arp.target_hw_addr(), ASKER_MAC);
        assert_eq!(arp.target_protocol_addr(), [10, 0, 0, 1]);
    }

    #[test]
    fn reply_leaves_a_truncated_message_alone() {
        let message = request_message();
        let mut short = message[..MESSAGE_LEN - 1].to_vec();
        assert!(!turn_into_reply(&mut short, MacAddr(ANSWER_MAC)));
        assert_eq!(short, message[..MESSAGE_LEN - 1]);
    }
}
