//! The SFC stage: frames returning from service functions continue along their chain;
//! other IP frames from VM ports are classified, and a match enters its chain. At the
//! end of a chain the encapsulation is gone and the packet goes on to L2 or routing as
//! its source sent it.

use std::hash::{DefaultHasher, Hash, Hasher};

use classifier::{Classifier, Key, Prefix, Rule};
use ipnet::IpNet;
use packet::{rewrite, FlowCache, Packet};
use sfc::{ChainTables, Encap, HopRef, ReturnError, SfcState, SteerError};

use super::tables::ForwardingTables;
use super::{Dropped, Egress, WorkerState};
use crate::counters::DropReason;
use topology::{Correlation, Topology};

/// The compiled chains and classifiers of a configuration: part of the snapshot.
#[derive(Clone, Debug, Default)]
pub struct SfcTables {
    /// A rule's value is `chain index << 1 | reverse`.
    pub classifier: Classifier,
    pub chains: ChainTables,
}

impl SfcTables {
    pub fn build(topology: &Topology, macs: impl Fn(u32) -> packet::MacAddr) -> SfcTables {
        let mut rules = Vec::new();
        let mut chains = Vec::with_capacity(topology.port_chains.len());
        for (index, chain) in topology.port_chains.iter().enumerate() {
            let index = index as u32;
            for &fc in &chain.flow_classifiers {
                let rule = rule_of(topology.flow_classifier(fc), index << 1);
                rules.push(rule);
                if chain.symmetric {
                    rules.push(rule.reversed(index << 1 | 1));
                }
            }
            let groups = chain
                .port_pair_groups
                .iter()
                .map(|&g| sfc::Group {
                    pairs: topology
                        .port_pair_group(g)
                        .port_pairs
                        .iter()
                        .map(|&p| {
                            let pair = topology.port_pair(p);
                            let (ingress, egress) =
                                (pair.ingress.index() as u32, pair.egress.index() as u32);
                            sfc::Pair {
                                key: pair_key(topology, pair),
                                ingress,
                                egress,
                                ingress_mac: macs(ingress),
                                egress_mac: macs(egress),
                                encap: match pair.correlation {
                                    None => Encap::Proxy,
                                    Some(Correlation::Mpls) => Encap::Mpls,
                                    Some(Correlation::Nsh) => Encap::Nsh,
                                },
                                weight: pair.weight,
                            }
                        })
                        .collect(),
                })
                .collect();
            chains.push(sfc::Chain {
                chain_id: chain.chain_id,
                groups,
                symmetric: chain.symmetric,
                mpls_ttl: chain.mpls_ttl,
            });
        }
        SfcTables {
            classifier: Classifier::build(&rules),
            chains: ChainTables::build(chains),
        }
    }
}

/// A pair's identity across configurations: its name and its ports' names.
fn pair_key(topology: &Topology, pair: &topology::PortPair) -> u64 {
    let mut hasher = DefaultHasher::new();
    pair.name.hash(&mut hasher);
    topology.logical_port(pair.ingress).name.hash(&mut hasher);
    topology.logical_port(pair.egress).name.hash(&mut hasher);
    hasher.finish()
}

fn prefix(net: IpNet) -> Prefix {
    match net {
        IpNet::V4(n) => Prefix::v4(n.addr(), n.prefix_len()),
        IpNet::V6(n) => Prefix::v6(n.addr(), n.prefix_len()),
    }
}

fn rule_of(fc: &topology::FlowClassifier, value: u32) -> Rule {
    Rule {
        ipv6: fc.ethertype == topology::Ethertype::Ipv6,
        protocol: fc.protocol,
        src_ports: fc.source_port_range,
        dst_ports: fc.destination_port_range,
        src_prefix: fc.source_ip_prefix.map(prefix),
        dst_prefix: fc.destination_ip_prefix.map(prefix),
        logical_src: fc.logical_source_port.map(|p| p.index() as u32),
        logical_dst: fc.logical_destination_port.map(|p| p.index() as u32),
        value,
    }
}

/// What the stage decided.
pub(super) enum Verdict {
    /// Not chained (or the chain is over): forward normally as coming from this
    /// logical port.
    Forward(Packet, u32),
    /// Sent to a service function, or dropped.
    Done(Result<(), Dropped>),
}

/// Per worker: the classifier's answer for established flows, keyed by what it looks
/// at, valid for one generation of the tables.
pub type ClassificationCache = FlowCache<Key, Option<u32>>;

/// Slots of a worker's classification cache (about 70 bytes each).
pub const CLASSIFICATION_CACHE_SLOTS: usize = 4096;

pub(super) fn process(
    tables: &ForwardingTables,
    worker: &mut WorkerState,
    egress: &mut Egress,
    mut packet: Packet,
    ingress: u32,
) -> Verdict {
    let sfc = &tables.sfc;
    let state = &mut worker.sfc;
    match sfc::take_back(&sfc.chains, state, &mut packet, ingress) {
        Err(error) => Verdict::Done(Err((packet, return_drop(error)))),
        Ok(Some(hop)) => {
            egress.note("sfc", || {
                (
                    format!(
                        "returned from chain {} position {}",
                        chain_id(sfc, hop),
                        hop.position
                    ),
                    hop_fields(sfc, hop),
                )
            });
            match sfc.chains.next(hop) {
                Some(next) => Verdict::Done(send(tables, state, egress, packet, next)),
                None => end_of_chain(tables, egress, packet),
            }
        }
        Ok(None) => match classify(tables, &mut worker.classified, &packet, ingress) {
            Some(hop) => {
                egress.note("classifier", || {
                    (
                        format!("matched: enters chain {}", chain_id(sfc, hop)),
                        hop_fields(sfc, hop),
                    )
                });
                Verdict::Done(send(tables, state, egress, packet, hop))
            }
            None => Verdict::Forward(packet, ingress),
        },
    }
}

/// The chain_id of a hop's chain.
fn chain_id(sfc: &SfcTables, hop: HopRef) -> u16 {
    sfc.chains.chains()[hop.chain as usize].chain_id
}

/// A hop for traces: chain_id and position (0 = the first group).
fn hop_fields(sfc: &SfcTables, hop: HopRef) -> Vec<(&'static str, String)> {
    vec![
        ("chain_id", chain_id(sfc, hop).to_string()),
        ("position", hop.position.to_string()),
    ]
}

/// The chain and direction an IP packet from a VM port enters, if any.
fn classify(
    tables: &ForwardingTables,
    cache: &mut ClassificationCache,
    packet: &Packet,
    ingress: u32,
) -> Option<HopRef> {
    let classifier = &tables.sfc.classifier;
    // Plain unicast IP only: a VM's own MPLS frames are switched as they are, and
    // broadcast or multicast (DHCP, neighbour discovery) has no single destination to
    // rebuild at the end of a chain.
    if classifier.is_empty()
        || !packet.meta.is_ip()
        || packet.meta.mpls_depth != 0
        || rewrite::destination_mac(packet.data()).is_multicast()
    {
        return None;
    }
    let destination = if classifier.uses_logical_destination() {
        logical_destination(tables, packet).unwrap_or(Key::NO_PORT)
    } else {
        Key::NO_PORT
    };
    let key = Key::from_flow(&packet.meta.flow, ingress, destination);
    let hash = packet.meta.flow_hash
        ^ (u64::from(ingress) << 32 | u64::from(destination)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let value =
        cache.get_or_insert_with(hash, key, tables.generation, || classifier.classify(&key))?;
    Some(tables.sfc.chains.start(value >> 1, value & 1 == 1))
}

/// The logical port L2 or routing would deliver to: by destination MAC in the
/// network, or by destination address behind the router MAC.
fn logical_destination(tables: &ForwardingTables, packet: &Packet) -> Option<u32> {
    let zone = packet.meta.zone;
    let mac = rewrite::destination_mac(packet.data());
    let network = &tables.networks[zone as usize];
    if network.router_mac != Some(mac) {
        return tables.macs.get(&(zone, mac)).copied();
    }
    let router = &tables.routers[network.router? as usize];
    let destination = packet.meta.flow.dst_ip();
    let &(_, next) = router
        .networks
        .iter()
        .find(|(prefix, _)| prefix.contains(&destination))?;
    tables.hosts.get(&(next, destination)).copied()
}

fn send(
    tables: &ForwardingTables,
    state: &mut SfcState,
    egress: &mut Egress,
    mut packet: Packet,
    hop: HopRef,
) -> Result<(), Dropped> {
    match sfc::steer(&tables.sfc.chains, state, &mut packet, hop) {
        Ok(port) => {
            egress.note("sfc", || {
                let mut fields = hop_fields(&tables.sfc, hop);
                fields.push(("logical_port", port.to_string()));
                (
                    format!("sent to the service function at logical port {port}"),
                    fields,
                )
            });
            egress.send(tables, packet, port)
        }
        Err(error) => {
            let reason = match error {
                SteerError::NotIp => DropReason::SfcNotIp,
                SteerError::NoHeadroom => DropReason::NoHeadroom,
                SteerError::ProxyTableFull => DropReason::SfcProxyTableFull,
            };
            Err((packet, reason))
        }
    }
}

/// The chain is done: the Ethernet header becomes what the source sent (its own MAC;
/// the destination's MAC in the network, else the router's), and the packet is
/// forwarded as coming from the source's logical port, found by its address in the
/// network the function returned it to. Service functions only see the IP packet (MPLS)
/// or may rewrite MACs (proxy), so the header is rebuilt rather than trusted.
fn end_of_chain(tables: &ForwardingTables, egress: &mut Egress, mut packet: Packet) -> Verdict {
    let zone = packet.meta.zone;
    let flow = packet.meta.flow;
    let Some(&source) = tables.hosts.get(&(zone, flow.src_ip())) else {
        return Verdict::Done(Err((packet, DropReason::SfcUnknownSource)));
    };
    let destination = match tables.hosts.get(&(zone, flow.dst_ip())) {
        Some(&target) => tables.logical_ports[target as usize].mac,
        None => match tables.networks[zone as usize].router_mac {
            Some(router) => router,
            None => return Verdict::Done(Err((packet, DropReason::NoDestination))),
        },
    };
    let source_mac = tables.logical_ports[source as usize].mac;
    rewrite::set_macs(packet.data_mut(), destination, source_mac);
    packet.meta.logical_port = source;
    egress.note("sfc", || {
        (
            format!("end of chain: forwarded as from logical port {source}"),
            vec![("logical_port", source.to_string())],
        )
    });
    Verdict::Forward(packet, source)
}

fn return_drop(error: ReturnError) -> DropReason {
    match error {
        ReturnError::UnknownLabel => DropReason::SfcUnknownLabel,
        ReturnError::UnknownPath => DropReason::SfcUnknownPath,
        ReturnError::BadNsh => DropReason::SfcBadNsh,
        ReturnError::NoProxyFlow => DropReason::SfcNoProxyFlow,
        ReturnError::Inner(parse) => parse.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../dataplane/tests/data/topology-example.toml");

    /// A TCP SYN from green-vm1 to green-web (10.0.0.9:80), parsed, from `ingress`.
    fn web_request(ingress: u32) -> Packet {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2(
            [0xfa, 0x16, 0x3e, 0, 1, 1],
            [0xfa, 0x16, 0x3e, 0, 1, 9],
        )
        .ipv4([10, 0, 0, 5], [10, 0, 0, 9], 64)
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut frame, &[])
        .unwrap();
        let mut pool = packet::Pool::new(packet::PoolConfig {
            buffers: 1,
            ..packet::PoolConfig::default()
        });
        let mut packet = pool.alloc_copy(&frame).unwrap();
        packet.meta = packet::parse(&frame).unwrap();
        packet.meta.logical_port = ingress;
        packet
    }

    #[test]
    fn established_flows_are_classified_from_the_cache_of_their_generation() {
        let topology = Topology::from_toml_str(EXAMPLE).unwrap();
        let vm1 = topology.logical_port_by_name("green-vm1").unwrap().index() as u32;
        let packet = web_request(vm1);
        let mut cache = ClassificationCache::new(16);
        let tables = ForwardingTables::build(&topology);
        let first = classify(&tables, &mut cache, &packet, vm1);
        assert!(first.is_some(), "the web traffic enters the chain");
        assert_eq!(classify(&tables, &mut cache, &packet, vm1), first);
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
        // New tables (a configuration change): the cached answer is not trusted.
        let newer = ForwardingTables::build(&topology);
        assert_ne!(newer.generation, tables.generation);
        assert_eq!(classify(&newer, &mut cache, &packet, vm1), first);
        assert_eq!((cache.hits(), cache.misses()), (1, 2));
    }

    #[test]
    fn the_contract_example_compiles_its_chain() {
        let topology = Topology::from_toml_str(EXAMPLE).unwrap();
        let tables = ForwardingTables::build(&topology);
        let id = |name| topology.logical_port_by_name(name).unwrap().index();
        assert!(
            !tables.logical_ports[id("fw1-out")].port_security,
            "a port pair's egress is exempt from port security"
        );
        assert!(tables.logical_ports[id("fw1-in")].port_security);
        assert!(tables.logical_ports[id("green-vm1")].port_security);
        let chains = tables.sfc.chains.chains();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].chain_id, 7);
        let pair = &chains[0].groups[0].pairs[0];
        assert_eq!(pair.encap, Encap::Proxy);
        assert_eq!(pair.ingress_mac, "fa:16:3e:00:0f:01".parse().unwrap());
        assert!(tables.sfc.chains.is_return_port(id("fw1-out") as u32));
        // green-vm1 -> 10.0.0.9 TCP 80 enters chain 7 (index 0), forward.
        let flow = packet::FlowKey::new_v4(
            "10.0.0.5".parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
            6,
            40000,
            80,
        );
        let key = Key::from_flow(&flow, id("green-vm1") as u32, Key::NO_PORT);
        assert_eq!(tables.sfc.classifier.classify(&key), Some(0));
        let key = Key::from_flow(&flow, id("orange-vm2") as u32, Key::NO_PORT);
        assert_eq!(tables.sfc.classifier.classify(&key), None);
    }

    #[test]
    fn a_pair_keeps_its_key_across_configurations_while_its_ports_do() {
        let v1 = Topology::from_toml_str(EXAMPLE).unwrap();
        let key = |t: &Topology| {
            SfcTables::build(t, |_| packet::MacAddr::ZERO)
                .chains
                .chains()[0]
                .groups[0]
                .pairs[0]
                .key
        };
        // Another version with an extra logical port listed first (ids shift).
        let v2 = Topology::from_toml_str(&EXAMPLE.replacen(
            "[[logical_ports]]",
            "[[logical_ports]]\nname = \"extra\"\nnetwork = \"green-net\"\nmac = \"fa:16:3e:00:09:09\"\nport = \"vm2\"\nvlan = 9\n\n[[logical_ports]]",
            1,
        ))
        .unwrap();
        assert_eq!(key(&v1), key(&v2));
        let v3 = Topology::from_toml_str(
            &EXAMPLE.replace("egress = \"fw1-out\"", "egress = \"fw1-in\""),
        )
        .unwrap();
        assert_ne!(
            key(&v1),
            key(&v3),
            "a pair whose ports changed is another pair"
        );
    }
}
