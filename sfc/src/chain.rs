//! The compiled chains: pairs, groups, the hops of each direction, and the ports
//! service functions return frames on.

use hashbrown::HashMap;
use packet::MacAddr;

/// How a pair's service function receives the chain and hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Plain frames; the dataplane re-associates what comes back (proxy).
    Proxy,
    /// Ethernet / MPLS label (chain_id << 8 | SI) / IP.
    Mpls,
    /// Ethernet / NSH (SPI = chain_id, SI) / original frame.
    Nsh,
}

/// A service function: where frames go in and come out (logical port ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// A stable identity across configurations (a hash of its name and ports): a flow
    /// pinned to it keeps it while a pair with this key stays in the group.
    pub key: u64,
    pub ingress: u32,
    pub egress: u32,
    pub ingress_mac: MacAddr,
    pub egress_mac: MacAddr,
    pub encap: Encap,
    /// At least 1.
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub pairs: Vec<Pair>,
}

/// A port chain. Its hops are numbered by position: the forward direction visits the
/// groups in order at positions 0..n; a symmetric chain's reverse direction visits
/// them in reverse order at positions n..2n. The service index of position p is
/// 255 - p, so one label names one hop of one direction (the contract fixes the
/// forward numbering; the reverse one continuing below it is this dataplane's choice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub chain_id: u16,
    pub groups: Vec<Group>,
    pub symmetric: bool,
    /// TTL of the MPLS label pushed for this chain.
    pub mpls_ttl: u8,
}

/// One hop of one chain: a chain index in [`ChainTables`] and a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HopRef {
    pub chain: u32,
    pub position: u8,
}

impl Chain {
    /// The group a position visits, and whether it is the reverse direction.
    #[inline]
    pub fn group_at(&self, position: u8) -> (usize, bool) {
        let n = self.groups.len();
        let p = usize::from(position);
        if p < n {
            (p, false)
        } else {
            (2 * n - 1 - p, true)
        }
    }

    fn positions(&self) -> usize {
        self.groups.len() * if self.symmetric { 2 } else { 1 }
    }

    /// Where a direction starts.
    pub fn start(&self, reverse: bool) -> u8 {
        if reverse {
            self.groups.len() as u8
        } else {
            0
        }
    }

    /// The position after `position`, `None` at the end of its direction.
    #[inline]
    pub fn next(&self, position: u8) -> Option<u8> {
        let n = self.groups.len();
        let next = usize::from(position) + 1;
        (next != n && next < self.positions()).then_some(next as u8)
    }

    /// The service index of a position.
    pub fn service_index(position: u8) -> u8 {
        crate::FIRST_SERVICE_INDEX - position
    }
}

impl Pair {
    /// (logical port to send to, its MAC, logical port the frame returns on).
    #[inline]
    pub fn direction(&self, reverse: bool) -> (u32, MacAddr, u32) {
        if reverse {
            (self.egress, self.egress_mac, self.ingress)
        } else {
            (self.ingress, self.ingress_mac, self.egress)
        }
    }
}

/// What a logical port is to the chains: the hops whose functions return frames on it.
#[derive(Clone, Debug, Default)]
struct ReturnPort {
    /// Hops served through the proxy (plain frames come back here).
    proxied: Vec<HopRef>,
}

/// All chains of a configuration, compiled. Immutable.
#[derive(Clone, Debug, Default)]
pub struct ChainTables {
    chains: Vec<Chain>,
    /// chain_id -> index in `chains`.
    by_id: HashMap<u16, u32>,
    returns: HashMap<u32, ReturnPort>,
}

impl ChainTables {
    /// Compiles chains. The caller has validated them (chain_id 1-4095 unique, groups
    /// not empty, at most 255 groups, 127 for a symmetric chain).
    pub fn build(chains: Vec<Chain>) -> ChainTables {
        let mut by_id = HashMap::new();
        let mut returns: HashMap<u32, ReturnPort> = HashMap::new();
        for (index, chain) in chains.iter().enumerate() {
            by_id.insert(chain.chain_id, index as u32);
            for position in 0..chain.positions() as u8 {
                let hop = HopRef {
                    chain: index as u32,
                    position,
                };
                let (group, reverse) = chain.group_at(position);
                for pair in &chain.groups[group].pairs {
                    let (_, _, return_port) = pair.direction(reverse);
                    let entry = returns.entry(return_port).or_default();
                    if pair.encap == Encap::Proxy && !entry.proxied.contains(&hop) {
                        entry.proxied.push(hop);
                    }
                }
            }
        }
        ChainTables {
            chains,
            by_id,
            returns,
        }
    }

    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    #[inline]
    pub fn chain(&self, hop: HopRef) -> &Chain {
        &self.chains[hop.chain as usize]
    }

    /// The hop after `hop` in its direction, `None` at the end of the chain.
    #[inline]
    pub fn next(&self, hop: HopRef) -> Option<HopRef> {
        self.chain(hop).next(hop.position).map(|position| HopRef {
            chain: hop.chain,
            position,
        })
    }

    /// Where a chain (by index) starts in one direction.
    pub fn start(&self, chain: u32, reverse: bool) -> HopRef {
        HopRef {
            chain,
            position: self.chains[chain as usize].start(reverse),
        }
    }

    /// A service function returns frames on this logical port.
    #[inline]
    pub fn is_return_port(&self, logical_port: u32) -> bool {
        self.returns.contains_key(&logical_port)
    }

    /// The hop a label (or SPI/SI) names, if a pair of that hop with encapsulation
    /// `encap` returns frames on `logical_port`.
    pub fn hop_of(&self, chain_id: u16, si: u8, logical_port: u32, encap: Encap) -> Option<HopRef> {
        let &index = self.by_id.get(&chain_id)?;
        let chain = &self.chains[index as usize];
        let position = crate::FIRST_SERVICE_INDEX - si;
        if usize::from(position) >= chain.positions() {
            return None;
        }
        let (group, reverse) = chain.group_at(position);
        chain.groups[group]
            .pairs
            .iter()
            .any(|pair| pair.encap == encap && pair.direction(reverse).2 == logical_port)
            .then_some(HopRef {
                chain: index,
                position,
            })
    }

    /// The proxied hops returning plain frames on this port.
    pub(crate) fn proxied_hops(&self, logical_port: u32) -> &[HopRef] {
        self.returns
            .get(&logical_port)
            .map_or(&[], |r| r.proxied.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: u64, ingress: u32, egress: u32, encap: Encap) -> Pair {
        Pair {
            key,
            ingress,
            egress,
            ingress_mac: MacAddr([2, 0, 0, 0, 0, ingress as u8]),
            egress_mac: MacAddr([2, 0, 0, 0, 0, egress as u8]),
            encap,
            weight: 1,
        }
    }

    #[test]
    fn positions_walk_forward_then_reverse() {
        let chain = Chain {
            chain_id: 7,
            groups: vec![
                Group {
                    pairs: vec![pair(1, 10, 11, Encap::Mpls)],
                },
                Group {
                    pairs: vec![pair(2, 20, 21, Encap::Proxy)],
                },
            ],
            symmetric: true,
            mpls_ttl: crate::mpls::TTL,
        };
        assert_eq!(chain.group_at(0), (0, false));
        assert_eq!(chain.group_at(1), (1, false));
        assert_eq!(chain.group_at(2), (1, true));
        assert_eq!(chain.group_at(3), (0, true));
        assert_eq!(chain.next(0), Some(1));
        assert_eq!(chain.next(1), None, "forward ends after the last group");
        assert_eq!(chain.start(true), 2);
        assert_eq!(chain.next(2), Some(3));
        assert_eq!(chain.next(3), None);

        let t = ChainTables::build(vec![chain]);
        // Forward hop 0 returns on 11 with label SI 255; reverse hop 3 on 10, SI 252.
        assert_eq!(
            t.hop_of(7, 255, 11, Encap::Mpls),
            Some(HopRef {
                chain: 0,
                position: 0
            })
        );
        assert_eq!(
            t.hop_of(7, 252, 10, Encap::Mpls),
            Some(HopRef {
                chain: 0,
                position: 3
            })
        );
        assert_eq!(
            t.hop_of(7, 255, 10, Encap::Mpls),
            None,
            "wrong port for the hop"
        );
        assert_eq!(
            t.hop_of(7, 255, 11, Encap::Nsh),
            None,
            "wrong encapsulation"
        );
        assert_eq!(t.hop_of(7, 251, 10, Encap::Mpls), None, "beyond the chain");
        assert_eq!(t.hop_of(8, 255, 11, Encap::Mpls), None, "unknown chain");
        assert_eq!(
            t.proxied_hops(21),
            &[HopRef {
                chain: 0,
                position: 1
            }]
        );
        assert_eq!(
            t.proxied_hops(20),
            &[HopRef {
                chain: 0,
                position: 2
            }]
        );
        assert!(t.is_return_port(11) && t.is_return_port(10) && !t.is_return_port(12));
    }
}
