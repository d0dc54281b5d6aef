//! The overlay's part of the forwarding tables: this node's VTEP, the other chassis,
//! VNI to network, and the chassis each network's floods are replicated to.

use std::net::IpAddr;

use hashbrown::HashMap;
use packet::MacAddr;
use vxlan::Endpoint;

use super::ids::{ChassisId, LogicalPortId, NetworkId, PortId};
use topology::{Binding, Topology};

/// This node's end of the tunnels.
#[derive(Clone, Debug)]
pub struct LocalVtep {
    /// The uplink port the encapsulated frames leave on.
    pub port: PortId,
    /// node.vtep_ip and node.uplink_mac.
    pub endpoint: Endpoint,
    /// The uplink's MTU: the largest outer IP packet.
    pub mtu: u16,
}

#[derive(Clone, Debug)]
pub struct ChassisEntry {
    pub ip: IpAddr,
    /// `None` until resolved (the topology may leave it out).
    pub mac: Option<MacAddr>,
    /// Known to be down: frames to it are dropped (`chassis_down`), none flooded.
    pub down: bool,
}

/// A logical port on another chassis, as a frame from it arrives: by the VNI of its
/// network and its MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSender {
    pub network: NetworkId,
    pub logical_port: LogicalPortId,
    pub chassis: ChassisId,
}

#[derive(Clone, Debug, Default)]
pub struct VxlanTables {
    /// `None` when the node has no VTEP address, uplink or uplink MAC.
    pub local: Option<LocalVtep>,
    pub chassis: Vec<ChassisEntry>,
    pub chassis_by_ip: HashMap<IpAddr, ChassisId>,
    pub network_by_vni: HashMap<u32, NetworkId>,
    /// (VNI, MAC) -> the remote logical port owning that MAC in the VNI's network
    /// (filled by `ForwardingTables::build`, from its MAC table).
    pub senders: HashMap<(u32, MacAddr), RemoteSender>,
    /// By network: its VNI.
    pub vnis: Vec<u32>,
    /// By network: the chassis hosting at least one of its logical ports, in chassis
    /// order (head-end replication sends one copy to each).
    pub flood_chassis: Vec<Vec<ChassisId>>,
    /// node.uplink_mac: what the node's own addresses on the uplink answer with.
    pub uplink_mac: Option<MacAddr>,
    /// The node's own IPv4 addresses on the uplink (vtep_ip, external_ip): ARP for
    /// them is answered.
    pub own_ips: Vec<IpAddr>,
}

impl VxlanTables {
    pub fn build(topology: &Topology) -> Self {
        let node = &topology.node;
        let local = match (node.vtep_ip, node.uplink, node.uplink_mac) {
            (Some(ip), Some(port), Some(mac)) => Some(LocalVtep {
                port: PortId(port.index() as u16),
                endpoint: Endpoint { ip, mac },
                mtu: topology.ports[port.index()].mtu,
            }),
            _ => None,
        };
        let chassis = topology
            .chassis
            .iter()
            .map(|c| ChassisEntry {
                ip: c.vtep_ip,
                mac: c.mac,
                down: c.down,
            })
            .collect();
        let chassis_by_ip = topology
            .chassis
            .iter()
            .enumerate()
            .map(|(index, c)| (c.vtep_ip, ChassisId(index as u16)))
            .collect();
        let network_by_vni = topology
            .networks
            .iter()
            .enumerate()
            .map(|(index, n)| (n.vni, NetworkId(index as u32)))
            .collect();
        let vnis = topology.networks.iter().map(|n| n.vni).collect();
        let mut flood_chassis = vec![Vec::new(); topology.networks.len()];
        for lp in &topology.logical_ports {
            if let Binding::Remote { chassis } = lp.binding {
                if topology.chassis[chassis.index()].down {
                    continue;
                }
                let list: &mut Vec<ChassisId> = &mut flood_chassis[lp.network.index()];
                let id = ChassisId(chassis.index() as u16);
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        for list in &mut flood_chassis {
            list.sort_unstable();
        }
        let own_ips = [node.vtep_ip, node.external_ip]
            .into_iter()
            .flatten()
            .collect();
        VxlanTables {
            local,
            chassis,
            chassis_by_ip,
            network_by_vni,
            senders: HashMap::new(),
            vnis,
            flood_chassis,
            uplink_mac: node.uplink_mac,
            own_ips,
        }
    }
}

impl VxlanTables {
    #[inline]
    pub fn chassis(&self, id: ChassisId) -> &ChassisEntry {
        &self.chassis[id.index()]
    }
}
