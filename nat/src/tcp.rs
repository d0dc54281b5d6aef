//! The TCP connection state machine, in the spirit of Linux conntrack
//! (nf_conntrack_proto_tcp.c) without its sequence-window tracking: states move on
//! SYN, SYN-ACK, ACK, FIN and RST seen in each direction.

use crate::config::Timeouts;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpState {
    #[default]
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
}

/// Which way a packet goes relative to the connection's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Original,
    Reply,
}

/// A TCP connection's state and who sent the first FIN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcp {
    pub state: TcpState,
    first_fin: Option<bool>,
}

/// Whether a packet with `flags` may open a connection: a SYN without ACK. (Linux's
/// "loose" pickup of mid-stream connections is not done: after a restart the
/// tenant's TCP retries with a new connection.)
pub fn opens(flags: u8) -> bool {
    flags & (SYN | ACK | RST) == SYN
}

impl Tcp {
    /// Moves the state for a packet with `flags` going `direction`.
    pub fn update(&mut self, direction: Direction, flags: u8) {
        use TcpState::*;
        let original = direction == Direction::Original;
        let (syn, ack, fin) = (flags & SYN != 0, flags & ACK != 0, flags & FIN != 0);
        if flags & RST != 0 {
            self.state = Close;
            return;
        }
        let from_first_fin = self.first_fin == Some(original);
        self.state = match self.state {
            SynSent if !original && syn && ack => SynRecv,
            SynRecv if original && ack && !syn => Established,
            Established | SynRecv if fin => {
                self.first_fin = Some(original);
                FinWait
            }
            FinWait | CloseWait if fin && !from_first_fin => LastAck,
            FinWait if ack && !from_first_fin => CloseWait,
            LastAck if ack && from_first_fin => TimeWait,
            TimeWait | Close if original && syn && !ack => {
                // The tenant reopens the same 5-tuple, as Linux allows.
                self.first_fin = None;
                SynSent
            }
            state => state,
        };
    }

    pub fn timeout(&self, timeouts: &Timeouts) -> u32 {
        use TcpState::*;
        match self.state {
            SynSent => timeouts.tcp_syn_sent,
            SynRecv => timeouts.tcp_syn_recv,
            Established => timeouts.tcp_established,
            FinWait => timeouts.tcp_fin_wait,
            CloseWait => timeouts.tcp_close_wait,
            LastAck => timeouts.tcp_last_ack,
            TimeWait => timeouts.tcp_time_wait,
            Close => timeouts.tcp_close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Direction::{Original as O, Reply as R};
    use super::TcpState::*;
    use super::*;

    fn run(steps: &[(Direction, u8, TcpState)]) {
        let mut tcp = Tcp::default();
        for (i, &(direction, flags, want)) in steps.iter().enumerate() {
            tcp.update(direction, flags);
            assert_eq!(tcp.state, want, "step {i}");
        }
    }

    #[test]
    fn handshake_data_and_client_close() {
        run(&[
            (O, SYN, SynSent),
            (R, SYN | ACK, SynRecv),
            (O, ACK, Established),
            (O, ACK, Established),
            (R, ACK, Established),
            (O, FIN | ACK, FinWait),
            (R, ACK, CloseWait),
            (R, FIN | ACK, LastAck),
            (O, ACK, TimeWait),
        ]);
    }

    #[test]
    fn server_close_and_simultaneous_fin() {
        run(&[
            (O, SYN, SynSent),
            (R, SYN | ACK, SynRecv),
            (O, ACK, Established),
            (R, FIN | ACK, FinWait),
            (O, FIN | ACK, LastAck),
            (R, ACK, TimeWait),
        ]);
    }

    #[test]
    fn rst_closes_from_any_state_and_syn_reopens() {
        run(&[(O, SYN, SynSent), (R, RST | ACK, Close), (O, SYN, SynSent)]);
        run(&[
            (O, SYN, SynSent),
            (R, SYN | ACK, SynRecv),
            (O, ACK, Established),
            (O, RST, Close),
        ]);
    }

    #[test]
    fn out_of_order_flags_do_not_advance() {
        // An ACK from the server before its SYN-ACK, or a FIN-sender's own ACK.
        run(&[(O, SYN, SynSent), (R, ACK, SynSent), (O, ACK, SynSent)]);
        run(&[
            (O, SYN, SynSent),
            (R, SYN | ACK, SynRecv),
            (O, ACK, Established),
            (O, FIN | ACK, FinWait),
            (O, ACK, FinWait),
        ]);
    }

    #[test]
    fn only_a_bare_syn_opens() {
        assert!(opens(SYN));
        assert!(!opens(SYN | ACK) && !opens(ACK) && !opens(RST | SYN) && !opens(FIN));
    }

    #[test]
    fn timeouts_follow_the_state() {
        let t = Timeouts::default();
        let mut tcp = Tcp::default();
        assert_eq!(tcp.timeout(&t), 120);
        tcp.update(R, RST);
        assert_eq!(tcp.timeout(&t), 10);
    }
}
