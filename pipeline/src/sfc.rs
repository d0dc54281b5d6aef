//! The SFC stage: frames returning from service functions continue along their chain;
//! other IP frames from VM ports are classified, and a match enters its chain. At the
//! end of a chain the encapsulation is gone and the packet goes on to L2 or routing as
//! its source sent it.

use std::hash::{DefaultHasher, Hash, Hasher};

use classifier::{Classifier, Key, Prefix, Rule};
use ipnet::IpNet;
use packet::{rewrite, Packet};
use sfc::{ChainTables, Encap, HopRef, ReturnError, SfcState, SteerError};

use super::flow_table::FlowTable;
use super::graph::{Context, Next, Stage};
use super::tables::{ForwardingTables, LogicalPortId, NetworkId};
use super::WorkerState;
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

/// What an established flow needs from the SFC stage, found in one lookup: the
/// classifier's answer and the pair it is pinned to at its chain's first group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowDecision {
    /// The classifier's answer: chain index << 1 | reverse.
    pub chain: Option<u32>,
    /// The pair (index in the first group) and when the worker's pin for it was last
    /// refreshed (packet time).
    pub pair: Option<(u16, u64)>,
}

/// Per worker: the decisions of established flows, keyed by what the classifier
/// looks at, valid for one generation of the tables.
pub type ClassificationCache = FlowTable<Key, FlowDecision>;

/// Entries of a worker's classification cache at start: about 100 bytes each, so
/// that a worker with few flows keeps it in its core's cache.
pub const CLASSIFICATION_CACHE_SLOTS: usize = 1 << 12;

/// The most entries it grows to while flows outnumber its entries (see
/// `FlowTable::adapt`): room for about 64k flows per worker, 13 MiB.
pub const CLASSIFICATION_CACHE_MAX_SLOTS: usize = 1 << 17;

/// A cached pair is taken without touching the pin for this long; then the pin is
/// looked up again, so that it never idles out while its flow is active.
const PIN_REFRESH_NS: u64 = sfc::PIN_IDLE_NS / 8;

/// Sent to a service function, dropped, or (not chained, or at the end of its chain)
/// forwarded normally as coming from a logical port.
pub(super) fn process(
    tables: &ForwardingTables,
    worker: &mut WorkerState,
    cx: &mut Context,
    packet: &mut Packet,
    ingress: LogicalPortId,
) -> Next {
    let sfc = &tables.sfc;
    let state = &mut worker.sfc;
    match sfc::take_back(&sfc.chains, state, packet, ingress.0) {
        Err(error) => Next::Drop(return_drop(error)),
        Ok(Some(hop)) => {
            cx.note("sfc", || {
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
                Some(next) => send(tables, state, cx, packet, next),
                None => end_of_chain(tables, cx, packet),
            }
        }
        Ok(None) => match classify(tables, &mut worker.classified, packet, ingress) {
            Some((hop, decision)) => {
                cx.note("classifier", || {
                    (
                        format!("matched: enters chain {}", chain_id(sfc, hop)),
                        hop_fields(sfc, hop),
                    )
                });
                let now = packet.timestamp_ns;
                let index = match decision.pair {
                    Some((index, pinned_at)) if now.saturating_sub(pinned_at) < PIN_REFRESH_NS => {
                        usize::from(index)
                    }
                    _ => {
                        let index = sfc::select_pair(&sfc.chains, state, packet, hop);
                        decision.pair = Some((index as u16, now));
                        index
                    }
                };
                send_to(tables, state, cx, packet, hop, index)
            }
            None => Next::Stage(Stage::Forward(ingress)),
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

/// The chain and direction an IP packet from a VM port enters, if any, with the
/// flow's cached decision.
fn classify<'c>(
    tables: &ForwardingTables,
    cache: &'c mut ClassificationCache,
    packet: &Packet,
    ingress: LogicalPortId,
) -> Option<(HopRef, &'c mut FlowDecision)> {
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
        logical_destination(tables, packet).map_or(Key::NO_PORT, |port| port.0)
    } else {
        Key::NO_PORT
    };
    let key = Key::from_flow(&packet.meta.flow, ingress.0, destination);
    let hash = packet.meta.flow_hash
        ^ (u64::from(ingress.0) << 32 | u64::from(destination)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let decision = cache.get_or_insert_with(hash, key, tables.generation, || FlowDecision {
        chain: classifier.classify(&key),
        pair: None,
    });
    let value = decision.chain?;
    Some((
        tables.sfc.chains.start(value >> 1, value & 1 == 1),
        decision,
    ))
}

/// The logical port L2 or routing would deliver to: by destination MAC in the
/// network, or by destination address behind the router MAC.
fn logical_destination(tables: &ForwardingTables, packet: &Packet) -> Option<LogicalPortId> {
    let zone = NetworkId(packet.meta.zone);
    let mac = rewrite::destination_mac(packet.data());
    let network = tables.network(zone);
    if network.router_mac != Some(mac) {
        return tables.macs.get(&(zone, mac)).copied();
    }
    let destination = packet.meta.flow.dst_ip();
    let next = tables.routes.lookup(network.router?, destination)?;
    tables.hosts.get(&(next, destination)).copied()
}

fn send(
    tables: &ForwardingTables,
    state: &mut SfcState,
    cx: &mut Context,
    packet: &mut Packet,
    hop: HopRef,
) -> Next {
    let index = sfc::select_pair(&tables.sfc.chains, state, packet, hop);
    send_to(tables, state, cx, packet, hop, index)
}

/// To the pair `index` of the hop's group.
fn send_to(
    tables: &ForwardingTables,
    state: &mut SfcState,
    cx: &mut Context,
    packet: &mut Packet,
    hop: HopRef,
    index: usize,
) -> Next {
    match sfc::steer_to(&tables.sfc.chains, state, packet, hop, index) {
        Ok(port) => {
            cx.note("sfc", || {
                let mut fields = hop_fields(&tables.sfc, hop);
                fields.push(("logical_port", port.to_string()));
                (
                    format!("sent to the service function at logical port {port}"),
                    fields,
                )
            });
            Next::SendToLogicalPort(LogicalPortId(port))
        }
        Err(error) => {
            let reason = match error {
                SteerError::NotIp => DropReason::SfcNotIp,
                SteerError::NoHeadroom => DropReason::NoHeadroom,
                SteerError::ProxyTableFull => DropReason::SfcProxyTableFull,
            };
            Next::Drop(reason)
        }
    }
}

/// The chain is done: the Ethernet header becomes what the source sent (its own MAC;
/// the destination's MAC in the network, else the router's), and the packet is
/// forwarded as coming from the source's logical port, found by its address in the
/// network the function returned it to. Service functions only see the IP packet (MPLS)
/// or may rewrite MACs (proxy), so the header is rebuilt rather than trusted.
fn end_of_chain(tables: &ForwardingTables, cx: &mut Context, packet: &mut Packet) -> Next {
    let zone = NetworkId(packet.meta.zone);
    let flow = packet.meta.flow;
    let Some(&source) = tables.hosts.get(&(zone, flow.src_ip())) else {
        return Next::Drop(DropReason::SfcUnknownSource);
    };
    let destination = match tables.hosts.get(&(zone, flow.dst_ip())) {
        Some(&target) => tables.logical_port(target).mac,
        None => match tables.network(zone).router_mac {
            Some(router) => router,
            None => return Next::Drop(DropReason::NoDestination),
        },
    };
    let source_mac = tables.logical_port(source).mac;
    rewrite::set_macs(packet.data_mut(), destination, source_mac);
    packet.meta.logical_port = source.0;
    cx.note("sfc", || {
        (
            format!("end of chain: forwarded as from logical port {source}"),
            vec![("logical_port", source.to_string())],
        )
    });
    Next::Stage(Stage::Forward(source))
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
    fn web_request(ingress: LogicalPortId) -> Packet {
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
        packet.meta.logical_port = ingress.0;
        packet
    }

    #[test]
    fn established_flows_are_classified_from_the_cache_of_their_generation() {
        let topology = Topology::from_toml_str(EXAMPLE).unwrap();
        let vm1 = LogicalPortId(topology.logical_port_by_name("green-vm1").unwrap().index() as u32);
        let packet = web_request(vm1);
        let mut cache = ClassificationCache::new(16);
        let tables = ForwardingTables::build(&topology);
        let hop = |tables, cache: &mut ClassificationCache| {
            classify(tables, cache, &packet, vm1).map(|(hop, _)| hop)
        };
        let first = hop(&tables, &mut cache);
        assert!(first.is_some(), "the web traffic enters the chain");
        assert_eq!(hop(&tables, &mut cache), first);
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
        // New tables (a configuration change): the cached answer is not trusted.
        let newer = ForwardingTables::build(&topology);
        assert_ne!(newer.generation, tables.generation);
        assert_eq!(hop(&newer, &mut cache), first);
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
