//! The harness's scenarios: one topology (written as TOML, as users write it) and,
//! per scenario, the frames offered, the port they enter by, the port where they are
//! counted as delivered, and the service function port the harness plays.

use std::fmt::Write;

use clap::ValueEnum;
use etherparse::PacketBuilder;

/// What the dataplane is asked to do with the offered traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Frames the pipeline refuses at its first look (an IPv4 header of version 0):
    /// the generator's copy, the worker loop and freeing the buffer, with no stage.
    Null,
    /// L2 switching between two VMs of one network.
    L2,
    /// Distributed routing between two networks of one router.
    Routed,
    /// L2 to a port on another chassis: VXLAN encapsulation onto the uplink.
    VxlanEncap,
    /// VXLAN from another chassis on the uplink, decapsulated to a local VM.
    VxlanDecap,
    /// SNAT of established connections (each flow opened during the warm-up).
    SnatEstablished,
    /// SNAT where every packet opens a new connection: connections per second.
    SnatNew,
    /// A chain of one MPLS-aware service function (played by the harness).
    SfcMpls,
    /// A chain of one service function behind the proxy (no encapsulation).
    SfcProxy,
    /// Classify -> MPLS chain -> route -> SNAT (even flows) or VXLAN (odd flows).
    Full,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::Null,
        Scenario::L2,
        Scenario::Routed,
        Scenario::VxlanEncap,
        Scenario::VxlanDecap,
        Scenario::SnatEstablished,
        Scenario::SnatNew,
        Scenario::SfcMpls,
        Scenario::SfcProxy,
        Scenario::Full,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Null => "null",
            Scenario::L2 => "l2",
            Scenario::Routed => "routed",
            Scenario::VxlanEncap => "vxlan-encap",
            Scenario::VxlanDecap => "vxlan-decap",
            Scenario::SnatEstablished => "snat-established",
            Scenario::SnatNew => "snat-new",
            Scenario::SfcMpls => "sfc-mpls",
            Scenario::SfcProxy => "sfc-proxy",
            Scenario::Full => "full",
        }
    }

    /// The port pair of the scenario's chain, if it has one.
    fn chain_pair(self) -> Option<&'static str> {
        match self {
            Scenario::SfcMpls | Scenario::Full => Some("sf-mpls"),
            Scenario::SfcProxy => Some("sf-proxy"),
            _ => None,
        }
    }

    /// Whether the classifier count changes anything.
    pub fn classifies(self) -> bool {
        self.chain_pair().is_some()
    }

    /// Whether the SNAT table fills with the offered flows.
    pub fn tracks_connections(self) -> bool {
        matches!(
            self,
            Scenario::SnatEstablished | Scenario::SnatNew | Scenario::Full
        )
    }
}

/// Frame sizes of the offered traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// 64-byte frames.
    #[value(name = "64")]
    Small,
    /// 7:4:1 of 64, 576 and 1500-byte frames.
    Imix,
}

/// Frame sizes on the wire, FCS included (the frames built are 4 bytes shorter).
pub const SIZES: [usize; 3] = [64, 576, 1500];
/// The IMIX pattern (indices into `SIZES`), 7:4:1, interleaved.
const IMIX: [usize; 12] = [0, 1, 0, 0, 1, 0, 2, 0, 1, 0, 1, 0];

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Small => "64B",
            Mix::Imix => "IMIX",
        }
    }

    /// The size class of the `n`th frame offered.
    pub fn size_class(self, n: u64) -> usize {
        match self {
            Mix::Small => 0,
            Mix::Imix => IMIX[(n % IMIX.len() as u64) as usize],
        }
    }

    /// Mean frame size on the wire.
    pub fn mean_bytes(self) -> f64 {
        match self {
            Mix::Small => SIZES[0] as f64,
            Mix::Imix => IMIX.iter().map(|&c| SIZES[c]).sum::<usize>() as f64 / IMIX.len() as f64,
        }
    }
}

/// Port indices, in the order the topology declares them.
pub mod port {
    pub const UPLINK: u16 = 0;
    pub const VM1: u16 = 1;
    pub const VM2: u16 = 2;
    pub const VM3: u16 = 3;
    pub const SF1: u16 = 4;
    pub const SF2: u16 = 5;
    pub const COUNT: usize = 6;
}

/// Connections per worker the SNAT table holds in `snat-new` (the run stops before
/// it fills).
pub const SNAT_NEW_TABLE: u32 = 1 << 21;

const VM1_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 1];
const VM2_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 2];
const REMOTE_A_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 9];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0x0a, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [0x02, 0, 0xc0, 0, 2, 0x0b];
const CHASSIS_MAC: [u8; 6] = [0x02, 0, 0xc0, 0, 2, 0x0c];
const VM1_IP: [u8; 4] = [10, 0, 1, 5];
const VM2_IP: [u8; 4] = [10, 0, 1, 6];
const VM3_IP: [u8; 4] = [10, 0, 2, 5];
const REMOTE_A_IP: [u8; 4] = [10, 0, 1, 9];
const REMOTE_B_IP: [u8; 4] = [10, 0, 2, 9];
const SERVER_IP: [u8; 4] = [198, 51, 100, 7];
const VNI_A: u32 = 1001;

/// The harness topology: a node with an uplink (VTEP, SNAT), two networks of one
/// router, three local VMs, two remote ports on another chassis, two service
/// function ports, and for chained scenarios one chain with `classifiers` flow
/// classifiers of which only the last matches the offered traffic.
pub fn topology(scenario: Scenario, classifiers: u32, max_connections: u32) -> String {
    let mut toml = format!(
        r#"[node]
name = "bench"
vtep_ip = "192.0.2.11"
uplink = "uplink"
uplink_mac = "02:00:c0:00:02:0b"
external_ip = "203.0.113.11"
external_gateway_ip = "203.0.113.1"
external_gateway_mac = "02:00:cb:00:71:01"
snat_port_range = [1024, 65535]

[conntrack]
max_connections = {max_connections}

[[chassis]]
name = "compute-2"
vtep_ip = "192.0.2.12"
mac = "02:00:c0:00:02:0c"
"#
    );
    // Jumbo MTU everywhere: IMIX's 1500-byte frames still fit after VXLAN's 50 bytes.
    for name in ["uplink", "vm1", "vm2", "vm3", "sf1", "sf2"] {
        let _ = write!(
            toml,
            "\n[[ports]]\nname = \"{name}\"\ndriver = \"pcap\"\nmtu = 9000\n"
        );
    }
    toml.push_str(
        r#"
[[networks]]
name = "net-a"
tenant = "t"
vni = 1001
cidr = "10.0.1.0/24"
gateway_ip = "10.0.1.1"

[[networks]]
name = "net-b"
tenant = "t"
vni = 1002
cidr = "10.0.2.0/24"
gateway_ip = "10.0.2.1"

[[routers]]
name = "r"
tenant = "t"
mac = "02:00:0a:00:00:01"
networks = ["net-a", "net-b"]
snat = true
"#,
    );
    let logical_ports = [
        (
            "vm1",
            "net-a",
            "fa:16:3e:00:00:01",
            "10.0.1.5",
            "port = \"vm1\"",
        ),
        (
            "vm2",
            "net-a",
            "fa:16:3e:00:00:02",
            "10.0.1.6",
            "port = \"vm2\"",
        ),
        (
            "vm3",
            "net-b",
            "fa:16:3e:00:00:03",
            "10.0.2.5",
            "port = \"vm3\"",
        ),
        (
            "remote-a",
            "net-a",
            "fa:16:3e:00:00:09",
            "10.0.1.9",
            "chassis = \"compute-2\"",
        ),
        (
            "remote-b",
            "net-b",
            "fa:16:3e:00:00:0a",
            "10.0.2.9",
            "chassis = \"compute-2\"",
        ),
        (
            "sf1-port",
            "net-a",
            "fa:16:3e:0f:00:01",
            "10.0.1.201",
            "port = \"sf1\"",
        ),
        (
            "sf2-port",
            "net-a",
            "fa:16:3e:0f:00:02",
            "10.0.1.202",
            "port = \"sf2\"",
        ),
    ];
    for (name, network, mac, ip, binding) in logical_ports {
        let _ = write!(
            toml,
            "\n[[logical_ports]]\nname = \"{name}\"\nnetwork = \"{network}\"\nmac = \"{mac}\"\nip = \"{ip}\"\n{binding}\n"
        );
    }
    toml.push_str(
        r#"
[[port_pairs]]
name = "sf-mpls"
ingress = "sf1-port"
egress = "sf1-port"
correlation = "mpls"

[[port_pairs]]
name = "sf-proxy"
ingress = "sf2-port"
egress = "sf2-port"
correlation = "none"
"#,
    );
    let Some(pair) = scenario.chain_pair() else {
        return toml;
    };
    let _ = write!(
        toml,
        "\n[[port_pair_groups]]\nname = \"g\"\nport_pairs = [\"{pair}\"]\n"
    );
    let classifiers = classifiers.max(1);
    let mut names = Vec::with_capacity(classifiers as usize);
    for i in 0..classifiers - 1 {
        names.push(format!("\"fc{i}\""));
        let _ = write!(
            toml,
            "\n[[flow_classifiers]]\nname = \"fc{i}\"\nethertype = \"IPv4\"\n{}",
            filler_match(i)
        );
    }
    names.push("\"traffic\"".into());
    toml.push_str(
        "\n[[flow_classifiers]]\nname = \"traffic\"\nethertype = \"IPv4\"\nprotocol = \"udp\"\nlogical_source_port = \"vm1\"\n",
    );
    let _ = write!(
        toml,
        "\n[[port_chains]]\nname = \"chain\"\nchain_id = 7\nport_pair_groups = [\"g\"]\nflow_classifiers = [{}]\n",
        names.join(", ")
    );
    toml
}

/// Classifier `i` of the ones the traffic does not match, in three shapes (host and
/// TCP port, UDP port range from a /24, TCP 443 to a /16), as rule sets have few
/// distinct masks.
fn filler_match(i: u32) -> String {
    let ip = |n: u32| std::net::Ipv4Addr::from(n);
    match i % 3 {
        0 => format!(
            "protocol = \"tcp\"\ndestination_port_range = [80, 80]\ndestination_ip_prefix = \"{}/32\"\n",
            ip(0xac10_0000 + i)
        ),
        1 => format!(
            "protocol = \"udp\"\ndestination_port_range = [1000, 1999]\nsource_ip_prefix = \"{}/24\"\n",
            ip(0xac10_0000 + (i << 8))
        ),
        _ => format!(
            "protocol = \"tcp\"\ndestination_port_range = [443, 443]\ndestination_ip_prefix = \"{}/16\"\n",
            ip(0x0b00_0000 + (i << 16))
        ),
    }
}

/// A frame to offer, and where its flow's UDP ports are (the generator writes them
/// per packet: source port then destination port).
#[derive(Clone, Debug)]
pub struct Template {
    pub frame: Vec<u8>,
    pub ports_at: usize,
}

/// The traffic of a scenario.
pub struct Traffic {
    /// `templates[destination][size class]`; flow `f` uses destination `f % len`.
    pub templates: Vec<[Template; 3]>,
    pub input: u16,
    /// Where the frames are delivered; none for `null`, whose frames all end in the
    /// pipeline (then what counts is what the worker took in).
    pub output: Option<u16>,
    /// A service function port that sends every frame straight back.
    pub reflect: Option<u16>,
}

/// A UDP frame of `wire` bytes on the wire (FCS included), UDP checksum zero (none,
/// as IPv4 allows) so the harness may write the ports without fixing it.
fn udp_frame(macs: ([u8; 6], [u8; 6]), ips: ([u8; 4], [u8; 4]), wire: usize) -> Template {
    let payload = vec![0u8; wire - 4 - 14 - 20 - 8];
    let mut frame = Vec::with_capacity(wire);
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(ips.0, ips.1, 64)
        .udp(1024, 2000)
        .write(&mut frame, &payload)
        .expect("a frame fits");
    let ports_at = 14 + 20;
    frame[ports_at + 6..ports_at + 8].fill(0);
    Template { frame, ports_at }
}

/// `inner` as another chassis's VTEP sends it to this node: outer Ethernet, IPv4,
/// UDP to 4789 (checksum zero, as RFC 7348 asks over IPv4), VXLAN with `vni`.
fn vxlan_frame(inner: Template, vni: u32) -> Template {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(&inner.frame);
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CHASSIS_MAC, UPLINK_MAC)
        .ipv4([192, 0, 2, 12], [192, 0, 2, 11], 64)
        .udp(50000, 4789)
        .write(&mut frame, &payload)
        .expect("a frame fits");
    frame[40..42].fill(0);
    Template {
        ports_at: 50 + inner.ports_at,
        frame,
    }
}

fn sized(build: impl Fn(usize) -> Template) -> [Template; 3] {
    SIZES.map(build)
}

impl Traffic {
    pub fn of(scenario: Scenario) -> Traffic {
        let from_vm1 =
            |dst_mac, dst_ip| sized(move |w| udp_frame((VM1_MAC, dst_mac), (VM1_IP, dst_ip), w));
        let (templates, input, output, reflect) = match scenario {
            Scenario::Null => (
                vec![sized(|w| {
                    let mut template = udp_frame((VM1_MAC, VM2_MAC), (VM1_IP, VM2_IP), w);
                    template.frame[14] = 0x05;
                    template
                })],
                port::VM1,
                None,
                None,
            ),
            Scenario::L2 => (
                vec![from_vm1(VM2_MAC, VM2_IP)],
                port::VM1,
                Some(port::VM2),
                None,
            ),
            Scenario::Routed => (
                vec![from_vm1(ROUTER_MAC, VM3_IP)],
                port::VM1,
                Some(port::VM3),
                None,
            ),
            Scenario::VxlanEncap => (
                vec![from_vm1(REMOTE_A_MAC, REMOTE_A_IP)],
                port::VM1,
                Some(port::UPLINK),
                None,
            ),
            Scenario::VxlanDecap => (
                vec![sized(|w| {
                    vxlan_frame(
                        udp_frame((REMOTE_A_MAC, VM2_MAC), (REMOTE_A_IP, VM2_IP), w),
                        VNI_A,
                    )
                })],
                port::UPLINK,
                Some(port::VM2),
                None,
            ),
            Scenario::SnatEstablished | Scenario::SnatNew => (
                vec![from_vm1(ROUTER_MAC, SERVER_IP)],
                port::VM1,
                Some(port::UPLINK),
                None,
            ),
            Scenario::SfcMpls => (
                vec![from_vm1(VM2_MAC, VM2_IP)],
                port::VM1,
                Some(port::VM2),
                Some(port::SF1),
            ),
            Scenario::SfcProxy => (
                vec![from_vm1(VM2_MAC, VM2_IP)],
                port::VM1,
                Some(port::VM2),
                Some(port::SF2),
            ),
            Scenario::Full => (
                vec![
                    from_vm1(ROUTER_MAC, SERVER_IP),
                    from_vm1(ROUTER_MAC, REMOTE_B_IP),
                ],
                port::VM1,
                Some(port::UPLINK),
                Some(port::SF1),
            ),
        };
        Traffic {
            templates,
            input,
            output,
            reflect,
        }
    }
}

/// Writes flow `flow`'s ports into a frame: source 1024 + flow mod 60,000,
/// destination 2000 + flow / 60,000 (distinct 5-tuples up to 3.6 billion flows).
#[inline]
pub fn write_flow(frame: &mut [u8], ports_at: usize, flow: u64) {
    let src = 1024 + (flow % 60_000) as u16;
    let dst = 2000 + ((flow / 60_000) % 60_000) as u16;
    frame[ports_at..ports_at + 2].copy_from_slice(&src.to_be_bytes());
    frame[ports_at + 2..ports_at + 4].copy_from_slice(&dst.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::topology::Topology;

    #[test]
    fn every_scenario_topology_loads_with_many_classifiers() {
        for scenario in Scenario::ALL {
            let toml = topology(scenario, 100, 1000);
            Topology::from_toml_str(&toml).unwrap_or_else(|e| panic!("{}: {e}", scenario.name()));
        }
    }

    #[test]
    fn templates_parse_and_flows_land_on_the_ports() {
        for scenario in Scenario::ALL.into_iter().filter(|&s| s != Scenario::Null) {
            for sizes in &Traffic::of(scenario).templates {
                for (class, template) in sizes.iter().enumerate() {
                    let mut frame = template.frame.clone();
                    assert!(frame.len() + 4 >= SIZES[class]);
                    write_flow(&mut frame, template.ports_at, 123_456);
                    let meta = packet::parse(&frame).unwrap();
                    let meta = match meta.tunnel {
                        packet::Tunnel::Vxlan { inner_offset, .. } => {
                            packet::parse(&frame[usize::from(inner_offset)..]).unwrap()
                        }
                        _ => meta,
                    };
                    assert_eq!(meta.flow.src_port, 1024 + 3456);
                    assert_eq!(meta.flow.dst_port, 2002);
                }
            }
        }
    }

    #[test]
    fn null_frames_are_refused_by_the_parser_at_every_size() {
        for template in &Traffic::of(Scenario::Null).templates[0] {
            let error = packet::parse(&template.frame).unwrap_err();
            assert_eq!(error.kind, packet::ParseErrorKind::Malformed);
        }
    }

    #[test]
    fn imix_is_seven_four_one() {
        let counts = (0..12).fold([0; 3], |mut c, n| {
            c[Mix::Imix.size_class(n)] += 1;
            c
        });
        assert_eq!(counts, [7, 4, 1]);
    }
}
