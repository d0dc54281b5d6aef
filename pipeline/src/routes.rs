//! Routing lookups that do not grow with the number of networks: a router's gateway
//! addresses in one hash set, and its networks' prefixes in one hash table keyed by
//! (router, masked address, prefix length), probed from the router's longest prefix
//! length down (IPv4 keys packed in one integer, cheaper to hash). A router's networks do not overlap (the topology refuses it), so the
//! longest match is the only one; and a router has few distinct prefix lengths, so a
//! lookup is one or two probes.

use std::net::IpAddr;

use hashbrown::{HashMap, HashSet};
use ipnet::IpNet;

use super::ids::{NetworkId, RouterId};

#[derive(Clone, Debug, Default)]
pub struct Routes {
    gateways: HashSet<(RouterId, IpAddr)>,
    /// IPv4 gateways by router, keyed by one integer (router << 32 | address).
    gateways_v4: HashSet<u64>,
    /// IPv6 prefixes by (router, masked address, prefix length).
    prefixes: HashMap<(RouterId, IpAddr, u8), NetworkId>,
    /// IPv4 prefixes, keyed by one integer ([`v4_key`]): hashing it is a fraction of
    /// hashing the tuple with its address enum, and IPv4 is most traffic.
    prefixes_v4: HashMap<u128, NetworkId>,
    /// By router, when it has at most [`SCAN_MAX`] IPv4 networks: (address, mask,
    /// network), tried in turn (a few compares cost less than one hash probe).
    scan_v4: Vec<Vec<(u32, u32, NetworkId)>>,
    /// By router: the distinct prefix lengths of its IPv4 networks, longest first.
    lengths_v4: Vec<Vec<u8>>,
    /// By router: the same for IPv6.
    lengths_v6: Vec<Vec<u8>>,
}

/// Routers with at most this many IPv4 networks are looked up by trying each.
const SCAN_MAX: usize = 8;

/// The key of an IPv4 prefix of `router`: router, prefix length and masked address
/// in one integer.
#[inline]
fn v4_key(router: RouterId, masked: u32, len: u8) -> u128 {
    u128::from(router.0) << 40 | u128::from(len) << 32 | u128::from(masked)
}

/// The netmask of an IPv4 prefix of length `len`.
#[inline]
fn v4_mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// `ip` with the bits after `len` cleared.
fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

impl Routes {
    /// From each router's networks (with their prefixes) and gateway addresses, by
    /// router id.
    pub fn build<'a>(
        routers: impl IntoIterator<Item = (&'a [(IpNet, NetworkId)], &'a [IpAddr])>,
    ) -> Routes {
        let mut routes = Routes::default();
        for (index, (networks, gateways)) in routers.into_iter().enumerate() {
            let router = RouterId(index as u32);
            for &ip in gateways {
                match ip {
                    IpAddr::V4(v4) => routes
                        .gateways_v4
                        .insert(u64::from(router.0) << 32 | u64::from(u32::from(v4))),
                    v6 => routes.gateways.insert((router, v6)),
                };
            }
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            let mut scan = Vec::new();
            for &(prefix, network) in networks {
                let len = prefix.prefix_len();
                match masked(prefix.addr(), len) {
                    IpAddr::V4(v4) => {
                        let address = u32::from(v4);
                        scan.push((address, v4_mask(len), network));
                        routes
                            .prefixes_v4
                            .insert(v4_key(router, address, len), network)
                    }
                    v6 => routes.prefixes.insert((router, v6, len), network),
                };
                let lengths = if prefix.addr().is_ipv4() {
                    &mut v4
                } else {
                    &mut v6
                };
                if !lengths.contains(&len) {
                    lengths.push(len);
                }
            }
            v4.sort_unstable_by(|a, b| b.cmp(a));
            v6.sort_unstable_by(|a, b| b.cmp(a));
            routes.lengths_v4.push(v4);
            if scan.len() > SCAN_MAX {
                scan = Vec::new();
            }
            // Longest prefix first, as the hash probes go.
            scan.sort_unstable_by_key(|&(_, mask, _)| std::cmp::Reverse(mask));
            routes.scan_v4.push(scan);
            routes.lengths_v6.push(v6);
        }
        routes
    }

    /// Whether `ip` is one of the router's gateway addresses (for the router itself).
    #[inline]
    pub fn is_gateway(&self, router: RouterId, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                !self.gateways_v4.is_empty()
                    && self
                        .gateways_v4
                        .contains(&(u64::from(router.0) << 32 | u64::from(u32::from(v4))))
            }
            IpAddr::V6(_) => !self.gateways.is_empty() && self.gateways.contains(&(router, ip)),
        }
    }

    /// The router's network whose prefix holds `ip`.
    #[inline]
    pub fn lookup(&self, router: RouterId, ip: IpAddr) -> Option<NetworkId> {
        match ip {
            IpAddr::V4(v4) => {
                let ip = u32::from(v4);
                let lengths = self.lengths_v4.get(router.index())?;
                let scan = &self.scan_v4[router.index()];
                // Longest prefix first: the first match is the longest.
                if !scan.is_empty() || lengths.is_empty() {
                    return scan
                        .iter()
                        .find(|&&(address, mask, _)| ip & mask == address)
                        .map(|&(_, _, network)| network);
                }
                lengths.iter().find_map(|&len| {
                    self.prefixes_v4
                        .get(&v4_key(router, ip & v4_mask(len), len))
                        .copied()
                })
            }
            IpAddr::V6(_) => self
                .lengths_v6
                .get(router.index())?
                .iter()
                .find_map(|&len| self.prefixes.get(&(router, masked(ip, len), len)).copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn finds_the_network_holding_an_address_among_many() {
        // Router 0: 10.0.<n>.0/24 for n in 0..200 (network n), 192.168.0.0/16 (200),
        // and 2001:db8:1::/64 (201). Router 1: 10.0.5.0/24 as its network 7.
        let mut r0: Vec<(IpNet, NetworkId)> = (0..200u32)
            .map(|n| (format!("10.0.{n}.0/24").parse().unwrap(), NetworkId(n)))
            .collect();
        r0.push(("192.168.0.0/16".parse().unwrap(), NetworkId(200)));
        r0.push(("2001:db8:1::/64".parse().unwrap(), NetworkId(201)));
        let r1 = [("10.0.5.0/24".parse().unwrap(), NetworkId(7))];
        let g0 = [ip("10.0.0.1"), ip("10.0.1.1")];
        let routes = Routes::build([(&r0[..], &g0[..]), (&r1[..], &[][..])]);
        let (router0, router1) = (RouterId(0), RouterId(1));
        assert_eq!(
            routes.lookup(router0, ip("10.0.137.9")),
            Some(NetworkId(137))
        );
        assert_eq!(routes.lookup(router0, ip("10.0.0.255")), Some(NetworkId(0)));
        assert_eq!(
            routes.lookup(router0, ip("192.168.77.1")),
            Some(NetworkId(200))
        );
        assert_eq!(
            routes.lookup(router0, ip("2001:db8:1::5")),
            Some(NetworkId(201))
        );
        assert_eq!(routes.lookup(router0, ip("2001:db8:2::5")), None);
        assert_eq!(routes.lookup(router0, ip("10.0.200.1")), None);
        assert_eq!(routes.lookup(router0, ip("8.8.8.8")), None);
        // Another router's prefixes are its own.
        assert_eq!(routes.lookup(router1, ip("10.0.5.3")), Some(NetworkId(7)));
        assert_eq!(routes.lookup(router1, ip("10.0.6.3")), None);
        assert_eq!(routes.lookup(RouterId(9), ip("10.0.5.3")), None);
        assert!(routes.is_gateway(router0, ip("10.0.1.1")));
        assert!(!routes.is_gateway(router0, ip("10.0.1.2")));
        assert!(!routes.is_gateway(router1, ip("10.0.1.1")));
    }

    #[test]
    fn host_and_default_prefixes() {
        let nets = [
            ("0.0.0.0/0".parse().unwrap(), NetworkId(1)),
            ("10.1.1.1/32".parse().unwrap(), NetworkId(2)),
        ];
        let routes = Routes::build([(&nets[..], &[][..])]);
        assert_eq!(
            routes.lookup(RouterId(0), ip("10.1.1.1")),
            Some(NetworkId(2))
        );
        assert_eq!(
            routes.lookup(RouterId(0), ip("10.1.1.2")),
            Some(NetworkId(1))
        );
    }
}
