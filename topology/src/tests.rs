//! The contract example must load and say what it says; every refusal is shown by a
//! small edit of it, and its message must name the object and the field.

use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

/// A copy of `shared/topology-example.toml`, so these tests stand alone.
const EXAMPLE: &str = include_str!("../../dataplane/tests/data/topology-example.toml");

/// The shared contract file, beside the repository checkout.
const SHARED_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/topology-example.toml"
);

fn accepted(text: &str) -> Topology {
    Topology::from_toml_str(text).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// The example with the first `from` after `anchor` replaced by `to`.
fn edit(anchor: &str, from: &str, to: &str) -> String {
    let start = EXAMPLE
        .find(anchor)
        .unwrap_or_else(|| panic!("no {anchor:?} in the example"));
    let at = start
        + EXAMPLE[start..]
            .find(from)
            .unwrap_or_else(|| panic!("no {from:?} after {anchor:?}"));
    format!("{}{to}{}", &EXAMPLE[..at], &EXAMPLE[at + from.len()..])
}

/// The example with more TOML appended (arrays of tables may continue anywhere).
fn with(extra: &str) -> String {
    format!("{EXAMPLE}\n{extra}\n")
}

/// Asserts a validation refusal that starts with `section "name": field: ` and says
/// `detail`.
fn refused(text: &str, object_field: &str, detail: &str) {
    let err = Topology::from_toml_str(text).expect_err("the edited file must be refused");
    let message = err.to_string();
    assert!(matches!(err, TopologyError::Invalid { .. }), "{message}");
    assert!(
        message.starts_with(object_field),
        "{message:?} does not start with {object_field:?}"
    );
    assert!(
        message.contains(detail),
        "{message:?} does not say {detail:?}"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---- the contract example ----

#[test]
fn shared_contract_file_loads_and_matches_the_copy() {
    let shared = std::fs::read_to_string(SHARED_EXAMPLE)
        .expect("shared/topology-example.toml beside the repo");
    assert_eq!(accepted(&shared), accepted(EXAMPLE));
    assert_eq!(
        shared, EXAMPLE,
        "tests/data/topology-example.toml is out of date"
    );
}

#[test]
fn example_node_and_chassis() {
    let t = accepted(EXAMPLE);
    assert_eq!(t.node.name, "compute-1");
    assert_eq!(t.node.vtep_ip, Some(ip("192.0.2.11")));
    assert_eq!(t.node.uplink, t.port_by_name("uplink"));
    assert_eq!(t.node.uplink.map(|p| p.index()), Some(0));
    assert_eq!(
        t.node.uplink_mac,
        Some("02:00:c0:00:02:0b".parse().unwrap())
    );
    assert_eq!(t.node.external_ip, Some(ip("203.0.113.11")));
    assert_eq!(t.node.external_gateway_ip, Some(ip("203.0.113.1")));
    assert_eq!(
        t.node.external_gateway_mac,
        Some("02:00:cb:00:71:01".parse().unwrap())
    );
    assert_eq!(t.node.snat_port_range, (1024, 65535));
    assert_eq!(t.chassis.len(), 1);
    assert_eq!(t.chassis[0].vtep_ip, ip("192.0.2.12"));
    assert_eq!(t.chassis[0].mac, Some("02:00:c0:00:02:0c".parse().unwrap()));
}

#[test]
fn example_ports() {
    let t = accepted(EXAMPLE);
    let names: Vec<&str> = t.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["uplink", "vm1", "vm2", "fw1"]);
    assert_eq!(
        t.ports[0].driver,
        Driver::AfXdp {
            ifname: "eth1".into()
        }
    );
    let vm1 = t.port(t.port_by_name("vm1").unwrap());
    assert_eq!(
        vm1.driver,
        Driver::VhostUser {
            socket: PathBuf::from("/run/dataplane/vm1.sock"),
            mode: VhostMode::Server,
        }
    );
    assert_eq!(vm1.queues, 1);
    assert_eq!(vm1.driver.name(), "vhost-user");
    assert_eq!(vm1.mtu, 1500);
    assert_eq!(t.port_by_name("vm9"), None);
}

#[test]
fn example_networks_and_routers() {
    let t = accepted(EXAMPLE);
    let green = t.network(t.network_by_name("green-net").unwrap());
    let orange = t.network(t.network_by_name("orange-net").unwrap());
    assert_eq!((green.vni, orange.vni), (1001, 1002));
    assert_eq!(green.cidr, "10.0.0.0/24".parse().unwrap());
    assert_eq!(green.cidr, orange.cidr);
    assert_eq!(green.gateway_ip, Some(ip("10.0.0.1")));
    assert_eq!(green.router, t.router_by_name("green-router"));
    assert_eq!(orange.router, t.router_by_name("orange-router"));
    assert_ne!(green.router, orange.router);
    let router = t.router(green.router.unwrap());
    assert_eq!(router.tenant, "green");
    assert_eq!(router.mac, "02:00:0a:00:00:01".parse().unwrap());
    assert_eq!(
        router.networks,
        vec![t.network_by_name("green-net").unwrap()]
    );
    assert!(router.snat);
    assert_eq!(router.external_ip, None);
}

#[test]
fn example_logical_ports() {
    let t = accepted(EXAMPLE);
    let lp = |name| t.logical_port(t.logical_port_by_name(name).unwrap());
    let vm1 = lp("green-vm1");
    assert_eq!(
        vm1.binding,
        Binding::Local {
            port: t.port_by_name("vm1").unwrap(),
            vlan: None
        }
    );
    assert_eq!(vm1.network, t.network_by_name("green-net").unwrap());
    assert_eq!(vm1.mac, "fa:16:3e:00:01:01".parse().unwrap());
    assert_eq!(vm1.ip, Some(ip("10.0.0.5")));
    assert!(vm1.port_security);
    assert_eq!(
        lp("orange-vm2").network,
        t.network_by_name("orange-net").unwrap()
    );
    assert_eq!(lp("orange-vm2").ip, vm1.ip);
    let fw1 = t.port_by_name("fw1").unwrap();
    assert_eq!(
        lp("fw1-in").binding,
        Binding::Local {
            port: fw1,
            vlan: Some(101)
        }
    );
    assert_eq!(
        lp("fw1-out").binding,
        Binding::Local {
            port: fw1,
            vlan: Some(102)
        }
    );
    assert_eq!(
        lp("green-web").binding,
        Binding::Remote {
            chassis: t.chassis_by_name("compute-2").unwrap()
        }
    );
}

#[test]
fn example_sfc() {
    let t = accepted(EXAMPLE);
    let pair = t.port_pair(t.port_pair_by_name("fw1").unwrap());
    assert_eq!(pair.ingress, t.logical_port_by_name("fw1-in").unwrap());
    assert_eq!(pair.egress, t.logical_port_by_name("fw1-out").unwrap());
    assert_eq!(pair.correlation, None);
    assert_eq!(pair.weight, 1);
    let group = t.port_pair_group(t.port_pair_group_by_name("firewalls").unwrap());
    assert_eq!(group.port_pairs, vec![t.port_pair_by_name("fw1").unwrap()]);
    let fc = t.flow_classifier(t.flow_classifier_by_name("green-web-traffic").unwrap());
    assert_eq!(fc.ethertype, Ethertype::Ipv4);
    assert_eq!(fc.protocol, Some(6));
    assert_eq!(fc.source_port_range, None);
    assert_eq!(fc.destination_port_range, Some((80, 80)));
    assert_eq!(fc.source_ip_prefix, None);
    assert_eq!(
        fc.destination_ip_prefix,
        Some("10.0.0.9/32".parse().unwrap())
    );
    assert_eq!(fc.logical_source_port, t.logical_port_by_name("green-vm1"));
    assert_eq!(fc.logical_destination_port, None);
    let chain = t.port_chain(t.port_chain_by_name("green-web-chain").unwrap());
    assert_eq!(chain.chain_id, 7);
    assert_eq!(
        chain.port_pair_groups,
        vec![t.port_pair_group_by_name("firewalls").unwrap()]
    );
    assert_eq!(
        chain.flow_classifiers,
        vec![t.flow_classifier_by_name("green-web-traffic").unwrap()]
    );
    assert_eq!(chain.correlation, Correlation::Mpls);
    assert!(!chain.symmetric);
}

#[test]
fn defaults_of_optional_fields() {
    let t = accepted(
        r#"
        [node]
        name = "n"
        [[ports]]
        name = "p"
        driver = "pcap"
        [[networks]]
        name = "net"
        tenant = "t"
        vni = 5
        cidr = "fd00::/64"
        [[logical_ports]]
        name = "lp"
        network = "net"
        mac = "02:00:00:00:00:05"
        port = "p"
        [[port_pairs]]
        name = "pp"
        ingress = "lp"
        egress = "lp"
        [[port_pair_groups]]
        name = "g"
        port_pairs = ["pp"]
        [[flow_classifiers]]
        name = "fc"
        [[port_chains]]
        name = "c"
        chain_id = 1
        port_pair_groups = ["g"]
        "#,
    );
    assert_eq!(t.node.vtep_ip, None);
    assert_eq!(t.node.uplink, None);
    assert_eq!(t.node.snat_port_range, (1024, 65535));
    assert!(t.chassis.is_empty() && t.routers.is_empty());
    assert_eq!(t.ports[0].driver, Driver::Pcap { path: None });
    assert_eq!(t.ports[0].mtu, 1500);
    assert_eq!(t.networks[0].gateway_ip, None);
    assert_eq!(t.networks[0].router, None);
    assert_eq!(t.logical_ports[0].ip, None);
    assert!(t.logical_ports[0].port_security);
    assert_eq!(
        (t.port_pairs[0].correlation, t.port_pairs[0].weight),
        (None, 1)
    );
    let fc = &t.flow_classifiers[0];
    assert_eq!(
        (fc.ethertype, fc.protocol, fc.destination_port_range),
        (Ethertype::Ipv4, None, None)
    );
    assert_eq!(t.port_chains[0].correlation, Correlation::Mpls);
    assert!(!t.port_chains[0].symmetric);
    assert!(t.port_chains[0].flow_classifiers.is_empty());
}

#[test]
fn added_fields_are_read() {
    let text = edit(
        "name = \"vm1\"",
        "driver = \"vhost-user\"\nsocket = \"/run/dataplane/vm1.sock\"",
        "driver = \"pcap\"\npath = \"in.pcap\"\nmtu = 9000",
    );
    let text = text.replace("port = \"vm1\"", "port = \"vm1\"\nport_security = false");
    let text = text.replace("snat = true", "snat = true\nexternal_ip = \"203.0.113.50\"");
    let t = accepted(&text);
    let vm1 = t.port(t.port_by_name("vm1").unwrap());
    assert_eq!(
        vm1.driver,
        Driver::Pcap {
            path: Some("in.pcap".into())
        }
    );
    assert_eq!(vm1.mtu, 9000);
    assert!(!t.logical_ports[0].port_security);
    assert_eq!(t.routers[0].external_ip, Some(ip("203.0.113.50")));
    assert_eq!(t.routers[1].external_ip, Some(ip("203.0.113.50")));
}

#[test]
fn same_mac_and_ip_in_two_networks_are_fine() {
    let text = edit(
        "name = \"orange-vm2\"",
        "mac = \"fa:16:3e:00:02:01\"",
        "mac = \"fa:16:3e:00:01:01\"",
    );
    let t = accepted(&text);
    assert_eq!(t.logical_ports[0].mac, t.logical_ports[1].mac);
    assert_eq!(t.logical_ports[0].ip, t.logical_ports[1].ip);
}

#[test]
fn protocol_by_number_or_numeric_string() {
    let t = accepted(&EXAMPLE.replace("protocol = \"tcp\"", "protocol = 6"));
    assert_eq!(t.flow_classifiers[0].protocol, Some(6));
    let t = accepted(&EXAMPLE.replace("protocol = \"tcp\"", "protocol = \"17\""));
    assert_eq!(t.flow_classifiers[0].protocol, Some(17));
}

// ---- file errors: TOML syntax, types, I/O ----

#[test]
fn misspelt_field_is_a_syntax_error_with_position() {
    let err = Topology::from_toml_str(&EXAMPLE.replace("vni = 1002", "vnii = 1002")).unwrap_err();
    assert!(matches!(err, TopologyError::Syntax { path: None, .. }));
    let message = err.to_string();
    assert!(message.contains("line 53"), "{message}");
    assert!(message.contains("unknown field `vnii`"), "{message}");
}

#[test]
fn misspelt_section_is_refused() {
    let message = Topology::from_toml_str(&with("[[port_chain]]\nname = \"x\""))
        .unwrap_err()
        .to_string();
    assert!(message.contains("unknown field `port_chain`"), "{message}");
}

#[test]
fn wrong_type_is_a_syntax_error() {
    let message = Topology::from_toml_str(&EXAMPLE.replace("vni = 1002", "vni = \"1002\""))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("line 53") && message.contains("expected i64"),
        "{message}"
    );
    let message =
        Topology::from_toml_str(&EXAMPLE.replace("protocol = \"tcp\"", "protocol = true"))
            .unwrap_err()
            .to_string();
    assert!(message.contains("expected a protocol name"), "{message}");
}

#[test]
fn missing_node_name_is_refused() {
    let message = Topology::from_toml_str(&EXAMPLE.replace("name = \"compute-1\"", ""))
        .unwrap_err()
        .to_string();
    assert!(message.contains("missing field `name`"), "{message}");
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, EXAMPLE).unwrap();
    assert_eq!(Topology::load(&good).unwrap(), accepted(EXAMPLE));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[node\n").unwrap();
    let message = Topology::load(&bad).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: ", bad.display())),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");

    let missing = dir.path().join("missing.toml");
    let err = Topology::load(&missing).unwrap_err();
    assert!(matches!(err, TopologyError::Io { .. }));
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

// ---- names ----

#[test]
fn duplicate_names_in_every_section() {
    let cases = [
        ("[[chassis]]\nname = \"compute-2\"\nvtep_ip = \"192.0.2.13\"", "chassis \"compute-2\""),
        ("[[ports]]\nname = \"vm1\"\ndriver = \"pcap\"", "ports \"vm1\""),
        ("[[networks]]\nname = \"green-net\"\ntenant = \"green\"\nvni = 9\ncidr = \"10.9.0.0/24\"", "networks \"green-net\""),
        ("[[routers]]\nname = \"green-router\"\ntenant = \"green\"\nmac = \"02:00:0a:00:00:09\"", "routers \"green-router\""),
        ("[[logical_ports]]\nname = \"fw1-in\"\nnetwork = \"green-net\"\nmac = \"02:00:00:00:00:09\"\nport = \"vm2\"\nvlan = 9", "logical_ports \"fw1-in\""),
        ("[[port_pairs]]\nname = \"fw1\"\ningress = \"fw1-in\"\negress = \"fw1-out\"", "port_pairs \"fw1\""),
        ("[[port_pair_groups]]\nname = \"firewalls\"\nport_pairs = [\"fw1\"]", "port_pair_groups \"firewalls\""),
        ("[[flow_classifiers]]\nname = \"green-web-traffic\"", "flow_classifiers \"green-web-traffic\""),
        ("[[port_chains]]\nname = \"green-web-chain\"\nchain_id = 9", "port_chains \"green-web-chain\""),
    ];
    for (extra, object) in cases {
        refused(&with(extra), &format!("{object}: name: "), "defined twice");
    }
}

#[test]
fn a_port_and_a_port_pair_may_share_a_name() {
    let t = accepted(EXAMPLE);
    assert!(t.port_by_name("fw1").is_some() && t.port_pair_by_name("fw1").is_some());
}

#[test]
fn empty_name_is_refused() {
    refused(
        &with("[[ports]]\nname = \"\"\ndriver = \"pcap\""),
        "ports \"\": name: ",
        "must not be empty",
    );
}

// ---- node ----

#[test]
fn unknown_uplink_port() {
    refused(
        &EXAMPLE.replace("uplink = \"uplink\"", "uplink = \"eth9\""),
        "node \"compute-1\": uplink: ",
        "unknown port \"eth9\"",
    );
}

#[test]
fn bad_or_group_node_macs() {
    refused(
        &EXAMPLE.replace("02:00:c0:00:02:0b", "02:00:c0:00:02"),
        "node \"compute-1\": uplink_mac: ",
        "is not a MAC address",
    );
    refused(
        &EXAMPLE.replace("02:00:c0:00:02:0b", "03:00:c0:00:02:0b"),
        "node \"compute-1\": uplink_mac: ",
        "not a unicast MAC",
    );
    refused(
        &EXAMPLE.replace("02:00:cb:00:71:01", "ff:ff:ff:ff:ff:ff"),
        "node \"compute-1\": external_gateway_mac: ",
        "not a unicast MAC",
    );
    refused(
        &EXAMPLE.replace("02:00:cb:00:71:01", "00:00:00:00:00:00"),
        "node \"compute-1\": external_gateway_mac: ",
        "all zeros",
    );
}

#[test]
fn bad_node_ip() {
    refused(
        &EXAMPLE.replace("192.0.2.11", "192.0.2.311"),
        "node \"compute-1\": vtep_ip: ",
        "\"192.0.2.311\" is not an IP address",
    );
}

#[test]
fn external_gateway_of_other_family() {
    refused(
        &EXAMPLE.replace("\"203.0.113.1\"", "\"2001:db8::1\""),
        "node \"compute-1\": external_gateway_ip: ",
        "2001:db8::1 is IPv6 but external_ip 203.0.113.11 is IPv4",
    );
}

#[test]
fn snat_port_range_reversed_or_zero() {
    refused(
        &EXAMPLE.replace("[1024, 65535]", "[2000, 1000]"),
        "node \"compute-1\": snat_port_range: ",
        "[2000, 1000] is empty",
    );
    refused(
        &EXAMPLE.replace("[1024, 65535]", "[0, 65535]"),
        "node \"compute-1\": snat_port_range: ",
        "0 is outside 1..=65535",
    );
    refused(
        &EXAMPLE.replace("[1024, 65535]", "[1024, 65536]"),
        "node \"compute-1\": snat_port_range: ",
        "65536 is outside",
    );
}

#[test]
fn chassis_need_node_vtep_and_uplink() {
    refused(
        &EXAMPLE.replace("vtep_ip = \"192.0.2.11\"", ""),
        "node \"compute-1\": vtep_ip: ",
        "required to reach chassis \"compute-2\"",
    );
    refused(
        &EXAMPLE.replace("uplink = \"uplink\"", ""),
        "node \"compute-1\": uplink: ",
        "required to reach chassis \"compute-2\"",
    );
    refused(
        &EXAMPLE.replace("uplink_mac = \"02:00:c0:00:02:0b\"", ""),
        "node \"compute-1\": uplink_mac: ",
        "required to reach chassis \"compute-2\"",
    );
}

#[test]
fn snat_needs_an_uplink() {
    let text = r#"
        [node]
        name = "n"
        external_ip = "203.0.113.11"
        [[networks]]
        name = "net"
        tenant = "t"
        vni = 1
        cidr = "10.0.0.0/24"
        gateway_ip = "10.0.0.1"
        [[routers]]
        name = "r"
        tenant = "t"
        mac = "02:00:0a:00:00:01"
        networks = ["net"]
        snat = true
    "#;
    refused(text, "node \"n\": uplink: ", "required by router \"r\"");
    assert!(!accepted(&text.replace("snat = true", "snat = false")).routers[0].snat);
}

#[test]
fn uplink_hosting_a_logical_port() {
    let text = edit(
        "name = \"green-vm1\"",
        "port = \"vm1\"",
        "port = \"uplink\"",
    );
    refused(
        &text,
        "logical_ports \"green-vm1\": port: ",
        "port \"uplink\" is node.uplink",
    );
}

// ---- chassis ----

#[test]
fn chassis_vtep_equal_to_the_node() {
    refused(
        &EXAMPLE.replace("192.0.2.12", "192.0.2.11"),
        "chassis \"compute-2\": vtep_ip: ",
        "192.0.2.11 is this node's own vtep_ip",
    );
}

#[test]
fn chassis_vtep_used_twice() {
    let text = with("[[chassis]]\nname = \"compute-3\"\nvtep_ip = \"192.0.2.12\"");
    refused(
        &text,
        "chassis \"compute-3\": vtep_ip: ",
        "already the vtep_ip of chassis \"compute-2\"",
    );
}

#[test]
fn chassis_vtep_of_other_family() {
    refused(
        &EXAMPLE.replace("192.0.2.12", "2001:db8::12"),
        "chassis \"compute-2\": vtep_ip: ",
        "is IPv6 but node.vtep_ip 192.0.2.11 is IPv4",
    );
}

#[test]
fn chassis_mac_not_unicast() {
    refused(
        &EXAMPLE.replace("02:00:c0:00:02:0c", "01:00:5e:00:00:01"),
        "chassis \"compute-2\": mac: ",
        "not a unicast MAC",
    );
}

#[test]
fn unknown_chassis() {
    refused(
        &EXAMPLE.replace("chassis = \"compute-2\"", "chassis = \"compute-9\""),
        "logical_ports \"green-web\": chassis: ",
        "unknown chassis \"compute-9\"",
    );
}

// ---- ports ----

#[test]
fn unknown_driver_lists_the_drivers() {
    refused(
        &EXAMPLE.replace("driver = \"af-xdp\"", "driver = \"af_xdp\""),
        "ports \"uplink\": driver: ",
        "unknown value \"af_xdp\"; expected one of: pcap, vhost-user, tap, af-xdp, af-packet, dpdk",
    );
}

#[test]
fn vhost_user_needs_a_socket() {
    refused(
        &EXAMPLE.replace("socket = \"/run/dataplane/vm1.sock\"", ""),
        "ports \"vm1\": socket: ",
        "required by driver vhost-user",
    );
}

#[test]
fn kernel_drivers_need_an_ifname() {
    refused(
        &EXAMPLE.replace("ifname = \"eth1\"", ""),
        "ports \"uplink\": ifname: ",
        "required by driver af-xdp",
    );
    for driver in ["tap", "af-packet"] {
        let text = EXAMPLE.replace(
            "driver = \"af-xdp\"\nifname = \"eth1\"",
            &format!("driver = \"{driver}\""),
        );
        refused(
            &text,
            "ports \"uplink\": ifname: ",
            &format!("required by driver {driver}"),
        );
    }
    let t = accepted(&EXAMPLE.replace("driver = \"af-xdp\"", "driver = \"tap\""));
    assert_eq!(
        t.ports[0].driver,
        Driver::Tap {
            ifname: "eth1".into()
        }
    );
}

#[test]
fn kernel_ports_take_a_queue_count() {
    assert_eq!(accepted(EXAMPLE).ports[0].queues, 1);
    let with = |queues: &str| {
        EXAMPLE.replace(
            "ifname = \"eth1\"",
            &format!("ifname = \"eth1\"\nqueues = {queues}"),
        )
    };
    assert_eq!(accepted(&with("4")).ports[0].queues, 4);
    for bad in ["0", "65", "-1"] {
        refused(
            &with(bad),
            "ports \"uplink\": queues: ",
            "is outside 1..=64",
        );
    }
    let pcap = EXAMPLE.replace(
        "driver = \"af-xdp\"\nifname = \"eth1\"",
        "driver = \"pcap\"\nqueues = 2",
    );
    refused(
        &pcap,
        "ports \"uplink\": queues: ",
        "not used by driver pcap",
    );
}

#[test]
fn dpdk_needs_a_device() {
    let uplink = "driver = \"af-xdp\"\nifname = \"eth1\"";
    refused(
        &EXAMPLE.replace(uplink, "driver = \"dpdk\""),
        "ports \"uplink\": devargs: ",
        "required by driver dpdk",
    );
    // `pci` is still the name of a PCI address.
    let t = accepted(&EXAMPLE.replace(uplink, "driver = \"dpdk\"\npci = \"0000:3b:00.0\""));
    assert_eq!(
        t.ports[0].driver,
        Driver::Dpdk {
            devargs: "0000:3b:00.0".into(),
            rx_queues: 1,
            tx_queues: 1,
        }
    );
    let t = accepted(&EXAMPLE.replace(
        uplink,
        "driver = \"dpdk\"\ndevargs = \"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\"\nrx_queues = 2\ntx_queues = 3",
    ));
    assert_eq!(
        t.ports[0].driver,
        Driver::Dpdk {
            devargs: "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap".into(),
            rx_queues: 2,
            tx_queues: 3,
        }
    );
    // `queues` sizes both sides, as for every driver; one side may be set apart.
    let t = accepted(&EXAMPLE.replace(
        uplink,
        "driver = \"dpdk\"\ndevargs = \"net_null0\"\nqueues = 4\ntx_queues = 2",
    ));
    assert_eq!(
        t.ports[0].driver,
        Driver::Dpdk {
            devargs: "net_null0".into(),
            rx_queues: 4,
            tx_queues: 2,
        }
    );
    assert_eq!(t.ports[0].queues, 4);
}

#[test]
fn dpdk_ports_refuse_bad_devices_and_queue_counts() {
    let uplink = "driver = \"af-xdp\"\nifname = \"eth1\"";
    let cases = [
        ("devargs = \"\"", "devargs: ", "is not a device"),
        ("devargs = \",rx_pcap=a\"", "devargs: ", "is not a device"),
        ("devargs = \"net_null0, size=64\"", "devargs: ", "no spaces"),
        ("pci = \"0000:3b:00.0,txq_inline=1\"", "pci: ", "devargs"),
        (
            "pci = \"0000:3b:00.0\"\ndevargs = \"net_null0\"",
            "pci: ",
            "not both",
        ),
        (
            "devargs = \"net_null0\"\nrx_queues = 0",
            "rx_queues: ",
            "outside 1..=1024",
        ),
        (
            "devargs = \"net_null0\"\ntx_queues = 2000",
            "tx_queues: ",
            "outside 1..=1024",
        ),
    ];
    for (fields, field, message) in cases {
        refused(
            &EXAMPLE.replace(uplink, &format!("driver = \"dpdk\"\n{fields}")),
            &format!("ports \"uplink\": {field}"),
            message,
        );
    }
    refused(
        &EXAMPLE.replace(
            uplink,
            "driver = \"af-xdp\"\nifname = \"eth1\"\nrx_queues = 2",
        ),
        "ports \"uplink\": rx_queues: ",
        "not used by driver af-xdp",
    );
    refused(
        &EXAMPLE.replace(
            uplink,
            "driver = \"tap\"\nifname = \"eth1\"\ndevargs = \"net_null0\"",
        ),
        "ports \"uplink\": devargs: ",
        "not used by driver tap",
    );
}

#[test]
fn dpdk_section_defaults_and_values() {
    assert_eq!(accepted(EXAMPLE).dpdk, Dpdk::default());
    let t = accepted(&format!(
        "{EXAMPLE}\n[dpdk]\nlcores = \"0@(0-1)\"\nmemory_mb = 512\nno_huge = true\nfile_prefix = \"dp1\"\nmbufs = 4096\nmbuf_cache = 64\nrx_descriptors = 512\ntx_descriptors = 256\nargs = [\"--log-level=7\"]\n"
    ));
    assert_eq!(
        t.dpdk,
        Dpdk {
            lcores: "0@(0-1)".into(),
            memory_mb: Some(512),
            no_huge: true,
            file_prefix: Some("dp1".into()),
            mbufs: 4096,
            mbuf_cache: 64,
            rx_descriptors: 512,
            tx_descriptors: 256,
            args: vec!["--log-level=7".into()],
        }
    );
}

#[test]
fn dpdk_section_refuses_bad_values() {
    let cases = [
        ("lcores = \"0 1\"", "lcores: ", "not an EAL lcore list"),
        ("lcores = \"\"", "lcores: ", "not an EAL lcore list"),
        ("no_huge = true", "memory_mb: ", "required with no_huge"),
        ("memory_mb = 10", "memory_mb: ", "outside 64..="),
        ("file_prefix = \"a/b\"", "file_prefix: ", "without '/'"),
        ("mbufs = 100", "mbufs: ", "outside 512..="),
        (
            "mbufs = 600\nmbuf_cache = 512",
            "mbuf_cache: ",
            "mbufs (600) / 1.5",
        ),
        (
            "rx_descriptors = 16",
            "rx_descriptors: ",
            "outside 32..=32768",
        ),
        ("args = [\"\"]", "args: ", "an empty argument"),
    ];
    for (fields, field, message) in cases {
        refused(
            &format!("{EXAMPLE}\n[dpdk]\n{fields}\n"),
            &format!("dpdk \"dpdk\": {field}"),
            message,
        );
    }
    let err = Topology::from_toml_str(&format!("{EXAMPLE}\n[dpdk]\ncores = 2\n")).unwrap_err();
    assert!(err.to_string().contains("unknown field `cores`"), "{err}");
}

#[test]
fn field_the_driver_does_not_use() {
    let text = EXAMPLE.replace(
        "driver = \"vhost-user\"\nsocket = \"/run/dataplane/vm1.sock\"",
        "driver = \"pcap\"\nsocket = \"/run/dataplane/vm1.sock\"",
    );
    refused(&text, "ports \"vm1\": socket: ", "not used by driver pcap");
}

#[test]
fn mtu_too_small() {
    refused(
        &EXAMPLE.replace("ifname = \"eth1\"", "ifname = \"eth1\"\nmtu = 20"),
        "ports \"uplink\": mtu: ",
        "20 is outside 68..=65535",
    );
}

// ---- networks ----

#[test]
fn vni_out_of_range() {
    refused(
        &EXAMPLE.replace("vni = 1002", "vni = 0"),
        "networks \"orange-net\": vni: ",
        "0 is outside 1..=16777215",
    );
    refused(
        &EXAMPLE.replace("vni = 1002", "vni = 16777216"),
        "networks \"orange-net\": vni: ",
        "16777216 is outside",
    );
}

#[test]
fn vni_used_twice() {
    let err = Topology::from_toml_str(&EXAMPLE.replace("vni = 1002", "vni = 1001")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "networks \"orange-net\": vni: 1001 is already used by network \"green-net\""
    );
}

#[test]
fn bad_cidr() {
    let text = edit("name = \"green-net\"", "10.0.0.0/24", "10.0.0.0/33");
    refused(
        &text,
        "networks \"green-net\": cidr: ",
        "\"10.0.0.0/33\" is not a CIDR prefix",
    );
    refused(
        &edit("name = \"green-net\"", "10.0.0.0/24", "10.0.0.0"),
        "networks \"green-net\": cidr: ",
        "not a CIDR prefix",
    );
}

#[test]
fn cidr_with_host_bits_says_what_was_meant() {
    let text = edit("name = \"green-net\"", "10.0.0.0/24", "10.0.0.7/24");
    refused(
        &text,
        "networks \"green-net\": cidr: ",
        "10.0.0.7/24 has host bits set; did you mean 10.0.0.0/24?",
    );
}

#[test]
fn gateway_outside_the_cidr() {
    let text = edit(
        "name = \"orange-net\"",
        "gateway_ip = \"10.0.0.1\"",
        "gateway_ip = \"10.0.1.1\"",
    );
    refused(
        &text,
        "networks \"orange-net\": gateway_ip: ",
        "10.0.1.1 is outside the cidr 10.0.0.0/24",
    );
}

#[test]
fn gateway_of_other_family() {
    let text = edit(
        "name = \"orange-net\"",
        "gateway_ip = \"10.0.0.1\"",
        "gateway_ip = \"fd00::1\"",
    );
    refused(
        &text,
        "networks \"orange-net\": gateway_ip: ",
        "fd00::1 is IPv6 but the cidr 10.0.0.0/24 is IPv4",
    );
}

#[test]
fn empty_tenant() {
    refused(
        &edit(
            "name = \"orange-net\"",
            "tenant = \"orange\"",
            "tenant = \"\"",
        ),
        "networks \"orange-net\": tenant: ",
        "must not be empty",
    );
}

// ---- routers ----

#[test]
fn router_with_unknown_network() {
    let text = EXAMPLE.replace("networks = [\"green-net\"]", "networks = [\"green-nett\"]");
    refused(
        &text,
        "routers \"green-router\": networks: ",
        "unknown network \"green-nett\"",
    );
}

#[test]
fn router_listing_a_network_twice() {
    let text = EXAMPLE.replace(
        "networks = [\"green-net\"]",
        "networks = [\"green-net\", \"green-net\"]",
    );
    refused(
        &text,
        "routers \"green-router\": networks: ",
        "network \"green-net\" is listed twice",
    );
}

#[test]
fn network_attached_to_two_routers() {
    let text = EXAMPLE.replace(
        "networks = [\"orange-net\"]",
        "networks = [\"orange-net\", \"green-net\"]",
    );
    refused(
        &text,
        "routers \"orange-router\": networks: ",
        "network \"green-net\" is already attached to router \"green-router\"",
    );
}

#[test]
fn router_and_network_tenants_differ() {
    let text = edit(
        "name = \"green-router\"",
        "tenant = \"green\"",
        "tenant = \"orange\"",
    );
    refused(
        &text,
        "routers \"green-router\": networks: ",
        "network \"green-net\" belongs to tenant \"green\", the router to tenant \"orange\"",
    );
}

#[test]
fn routed_network_without_gateway() {
    let text = edit("name = \"green-net\"", "gateway_ip = \"10.0.0.1\"", "");
    refused(
        &text,
        "routers \"green-router\": networks: ",
        "network \"green-net\" has no gateway_ip",
    );
}

#[test]
fn overlapping_networks_of_one_router() {
    let text = with("[[networks]]\nname = \"green-net2\"\ntenant = \"green\"\nvni = 1003\ncidr = \"10.0.0.128/25\"\ngateway_ip = \"10.0.0.129\"")
        .replace("networks = [\"green-net\"]", "networks = [\"green-net\", \"green-net2\"]");
    refused(
        &text,
        "routers \"green-router\": networks: ",
        "network \"green-net2\" (10.0.0.128/25) overlaps network \"green-net\" (10.0.0.0/24)",
    );
    let disjoint = text
        .replace("10.0.0.128/25", "10.0.1.0/24")
        .replace("10.0.0.129", "10.0.1.1");
    assert_eq!(accepted(&disjoint).routers[0].networks.len(), 2);
}

#[test]
fn router_mac_not_unicast() {
    refused(
        &EXAMPLE.replace("02:00:0a:00:00:02", "ff:ff:ff:ff:ff:ff"),
        "routers \"orange-router\": mac: ",
        "not a unicast MAC",
    );
}

#[test]
fn snat_without_any_external_ip() {
    let text = EXAMPLE.replace("external_ip = \"203.0.113.11\"", "");
    refused(
        &text,
        "routers \"green-router\": snat: ",
        "neither node.external_ip nor this router's external_ip",
    );
    // A router's own external address is enough.
    let own = text.replace("snat = true", "snat = true\nexternal_ip = \"203.0.113.20\"");
    assert_eq!(accepted(&own).node.external_ip, None);
}

#[test]
fn router_external_ip_of_other_family_than_the_gateway() {
    let text = edit(
        "name = \"orange-router\"",
        "snat = true",
        "snat = true\nexternal_ip = \"2001:db8::20\"",
    );
    refused(
        &text,
        "routers \"orange-router\": external_ip: ",
        "is IPv6 but node.external_gateway_ip 203.0.113.1 is IPv4",
    );
}

// ---- logical ports ----

#[test]
fn logical_port_on_unknown_network() {
    let text = edit(
        "name = \"orange-vm2\"",
        "network = \"orange-net\"",
        "network = \"purple-net\"",
    );
    refused(
        &text,
        "logical_ports \"orange-vm2\": network: ",
        "unknown network \"purple-net\"",
    );
}

#[test]
fn logical_port_on_unknown_port() {
    refused(
        &edit("name = \"orange-vm2\"", "port = \"vm2\"", "port = \"vm9\""),
        "logical_ports \"orange-vm2\": port: ",
        "unknown port \"vm9\"",
    );
}

#[test]
fn bound_both_locally_and_to_a_chassis() {
    let text = edit(
        "name = \"green-vm1\"",
        "port = \"vm1\"",
        "port = \"vm1\"\nchassis = \"compute-2\"",
    );
    refused(
        &text,
        "logical_ports \"green-vm1\": chassis: ",
        "bound both here (port \"vm1\") and to chassis \"compute-2\"",
    );
}

#[test]
fn bound_nowhere() {
    refused(
        &edit("name = \"orange-vm2\"", "port = \"vm2\"", ""),
        "logical_ports \"orange-vm2\": port: ",
        "unbound",
    );
}

#[test]
fn vlan_out_of_range() {
    refused(
        &EXAMPLE.replace("vlan = 101", "vlan = 4095"),
        "logical_ports \"fw1-in\": vlan: ",
        "4095 is outside 1..=4094",
    );
    refused(
        &EXAMPLE.replace("vlan = 101", "vlan = 0"),
        "logical_ports \"fw1-in\": vlan: ",
        "0 is outside 1..=4094",
    );
}

#[test]
fn vlan_on_a_chassis_bound_port() {
    let text = EXAMPLE.replace(
        "chassis = \"compute-2\"",
        "chassis = \"compute-2\"\nvlan = 5",
    );
    refused(
        &text,
        "logical_ports \"green-web\": vlan: ",
        "on chassis \"compute-2\"",
    );
}

#[test]
fn same_port_and_vlan_twice() {
    refused(
        &EXAMPLE.replace("vlan = 102", "vlan = 101"),
        "logical_ports \"fw1-out\": vlan: ",
        "port \"fw1\" vlan 101 is already logical port \"fw1-in\"",
    );
}

#[test]
fn two_untagged_logical_ports_on_one_port() {
    let text = edit("name = \"orange-vm2\"", "port = \"vm2\"", "port = \"vm1\"");
    refused(
        &text,
        "logical_ports \"orange-vm2\": port: ",
        "port \"vm1\" untagged is already logical port \"green-vm1\"",
    );
    // A trunk's parent (untagged) beside its sub-ports is fine.
    let parent = with("[[logical_ports]]\nname = \"fw1-parent\"\nnetwork = \"green-net\"\nmac = \"fa:16:3e:00:0f:00\"\nport = \"fw1\"");
    assert_eq!(accepted(&parent).logical_ports.len(), 6);
}

#[test]
fn duplicate_mac_in_a_network() {
    let text = edit(
        "name = \"green-web\"",
        "fa:16:3e:00:01:09",
        "fa:16:3e:00:01:01",
    );
    refused(
        &text,
        "logical_ports \"green-web\": mac: ",
        "fa:16:3e:00:01:01 is already used by logical port \"green-vm1\" in network \"green-net\"",
    );
}

#[test]
fn logical_port_mac_bad_or_not_unicast() {
    refused(
        &edit(
            "name = \"green-web\"",
            "fa:16:3e:00:01:09",
            "fa:16:3e:00:01",
        ),
        "logical_ports \"green-web\": mac: ",
        "not a MAC address",
    );
    refused(
        &edit(
            "name = \"green-web\"",
            "fa:16:3e:00:01:09",
            "01:00:5e:00:00:09",
        ),
        "logical_ports \"green-web\": mac: ",
        "not a unicast MAC",
    );
}

#[test]
fn logical_port_using_its_router_mac() {
    let text = edit(
        "name = \"green-web\"",
        "fa:16:3e:00:01:09",
        "02:00:0a:00:00:01",
    );
    refused(
        &text,
        "logical_ports \"green-web\": mac: ",
        "is the MAC of router \"green-router\" of network \"green-net\"",
    );
    // Another tenant's router MAC is not in this network.
    let other = edit(
        "name = \"green-web\"",
        "fa:16:3e:00:01:09",
        "02:00:0a:00:00:02",
    );
    accepted(&other);
}

#[test]
fn duplicate_ip_in_a_network() {
    let text = edit(
        "name = \"green-web\"",
        "ip = \"10.0.0.9\"",
        "ip = \"10.0.0.5\"",
    );
    refused(
        &text,
        "logical_ports \"green-web\": ip: ",
        "10.0.0.5 is already used by logical port \"green-vm1\" in network \"green-net\"",
    );
}

#[test]
fn ip_equal_to_the_gateway() {
    let text = edit(
        "name = \"green-web\"",
        "ip = \"10.0.0.9\"",
        "ip = \"10.0.0.1\"",
    );
    refused(
        &text,
        "logical_ports \"green-web\": ip: ",
        "10.0.0.1 is the gateway_ip of network \"green-net\"",
    );
}

#[test]
fn ip_outside_the_network() {
    let text = edit(
        "name = \"green-web\"",
        "ip = \"10.0.0.9\"",
        "ip = \"10.0.1.9\"",
    );
    refused(
        &text,
        "logical_ports \"green-web\": ip: ",
        "10.0.1.9 is outside network \"green-net\" 10.0.0.0/24",
    );
}

#[test]
fn ip_of_the_other_family() {
    let text = edit(
        "name = \"green-web\"",
        "ip = \"10.0.0.9\"",
        "ip = \"fd00::9\"",
    );
    refused(
        &text,
        "logical_ports \"green-web\": ip: ",
        "fd00::9 is IPv6 but network \"green-net\" 10.0.0.0/24 is IPv4",
    );
    refused(
        &edit(
            "name = \"green-web\"",
            "ip = \"10.0.0.9\"",
            "ip = \"10.0.0\"",
        ),
        "logical_ports \"green-web\": ip: ",
        "not an IP address",
    );
}

// ---- port pairs and groups ----

#[test]
fn port_pair_with_unknown_logical_ports() {
    refused(
        &EXAMPLE.replace("ingress = \"fw1-in\"", "ingress = \"fw9-in\""),
        "port_pairs \"fw1\": ingress: ",
        "unknown logical port \"fw9-in\"",
    );
    refused(
        &EXAMPLE.replace("egress = \"fw1-out\"", "egress = \"fw9-out\""),
        "port_pairs \"fw1\": egress: ",
        "unknown logical port \"fw9-out\"",
    );
}

#[test]
fn port_pair_on_a_remote_logical_port() {
    let text = EXAMPLE.replace("egress = \"fw1-out\"", "egress = \"green-web\"");
    refused(
        &text,
        "port_pairs \"fw1\": egress: ",
        "logical port \"green-web\" is on chassis \"compute-2\"",
    );
}

#[test]
fn port_pair_weight_zero() {
    refused(
        &EXAMPLE.replace("weight = 1", "weight = 0"),
        "port_pairs \"fw1\": weight: ",
        "0 is outside 1..=",
    );
}

#[test]
fn port_pair_correlation_unknown() {
    let text = EXAMPLE.replace("correlation = \"none\"", "correlation = \"vxlan\"");
    refused(
        &text,
        "port_pairs \"fw1\": correlation: ",
        "unknown value \"vxlan\"; expected one of: none, mpls, nsh",
    );
}

#[test]
fn port_pair_in_two_groups() {
    let text = with("[[port_pair_groups]]\nname = \"more\"\nport_pairs = [\"fw1\"]");
    refused(
        &text,
        "port_pair_groups \"more\": port_pairs: ",
        "port pair \"fw1\" is already in port pair group \"firewalls\"",
    );
}

#[test]
fn empty_port_pair_group() {
    refused(
        &EXAMPLE.replace("port_pairs = [\"fw1\"]", "port_pairs = []"),
        "port_pair_groups \"firewalls\": port_pairs: ",
        "is empty",
    );
}

#[test]
fn group_with_unknown_port_pair() {
    refused(
        &EXAMPLE.replace("port_pairs = [\"fw1\"]", "port_pairs = [\"fw9\"]"),
        "port_pair_groups \"firewalls\": port_pairs: ",
        "unknown port pair \"fw9\"",
    );
}

// ---- flow classifiers ----

#[test]
fn classifier_ethertype_unknown() {
    refused(
        &EXAMPLE.replace("ethertype = \"IPv4\"", "ethertype = \"ipv4\""),
        "flow_classifiers \"green-web-traffic\": ethertype: ",
        "expected one of: IPv4, IPv6",
    );
}

#[test]
fn classifier_protocol_unknown() {
    let text = EXAMPLE.replace("protocol = \"tcp\"", "protocol = \"sctpp\"");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": protocol: ",
        "unknown value \"sctpp\"; expected one of: tcp, udp, icmp, icmpv6, or a number 0-255",
    );
    refused(
        &EXAMPLE.replace("protocol = \"tcp\"", "protocol = 256"),
        "flow_classifiers \"green-web-traffic\": protocol: ",
        "256 is outside 0..=255",
    );
}

#[test]
fn classifier_icmp_of_the_other_family() {
    let text = EXAMPLE
        .replace("ethertype = \"IPv4\"", "ethertype = \"IPv6\"")
        .replace("protocol = \"tcp\"", "protocol = \"icmp\"");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": protocol: ",
        "use icmpv6",
    );
}

#[test]
fn classifier_port_range_reversed_or_too_big() {
    let text = EXAMPLE.replace(
        "destination_port_range = [80, 80]",
        "destination_port_range = [90, 80]",
    );
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": destination_port_range: ",
        "[90, 80] is empty",
    );
    let text = EXAMPLE.replace(
        "destination_port_range = [80, 80]",
        "source_port_range = [80, 70000]",
    );
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": source_port_range: ",
        "70000 is outside 0..=65535",
    );
}

#[test]
fn classifier_port_range_without_tcp_or_udp() {
    let text = EXAMPLE.replace("protocol = \"tcp\"", "protocol = \"icmp\"");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": destination_port_range: ",
        "needs protocol tcp or udp, but protocol is icmp",
    );
    let text = EXAMPLE.replace("protocol = \"tcp\"", "");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": destination_port_range: ",
        "no protocol is set",
    );
    let udp = accepted(&EXAMPLE.replace("protocol = \"tcp\"", "protocol = \"udp\""));
    assert_eq!(udp.flow_classifiers[0].protocol, Some(17));
}

#[test]
fn classifier_prefix_of_the_other_family() {
    let text = EXAMPLE.replace("ethertype = \"IPv4\"", "ethertype = \"IPv6\"");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": destination_ip_prefix: ",
        "10.0.0.9/32 is IPv4 but ethertype is IPv6",
    );
}

#[test]
fn classifier_prefix_with_host_bits() {
    let text = EXAMPLE.replace("10.0.0.9/32", "10.0.0.9/24");
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": destination_ip_prefix: ",
        "did you mean 10.0.0.0/24?",
    );
}

#[test]
fn classifier_unknown_logical_ports() {
    let text = EXAMPLE.replace(
        "logical_source_port = \"green-vm1\"",
        "logical_source_port = \"green-vm9\"",
    );
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": logical_source_port: ",
        "unknown logical port \"green-vm9\"",
    );
    let text = EXAMPLE.replace(
        "logical_source_port = \"green-vm1\"",
        "logical_source_port = \"green-vm1\"\nlogical_destination_port = \"web\"",
    );
    refused(
        &text,
        "flow_classifiers \"green-web-traffic\": logical_destination_port: ",
        "unknown logical port \"web\"",
    );
}

// ---- port chains ----

/// A second pair, group and chain beside the example's.
const SECOND_CHAIN: &str = r#"
[[port_pairs]]
name = "fw2"
ingress = "fw1-in"
egress = "fw1-out"
[[port_pair_groups]]
name = "more-firewalls"
port_pairs = ["fw2"]
[[port_chains]]
name = "second-chain"
chain_id = 8
port_pair_groups = ["more-firewalls"]
"#;

#[test]
fn second_chain_without_classifiers_is_fine() {
    let t = accepted(&with(SECOND_CHAIN));
    assert_eq!(t.port_chains[1].chain_id, 8);
    assert!(t.port_chains[1].flow_classifiers.is_empty());
}

#[test]
fn chain_id_out_of_range() {
    refused(
        &EXAMPLE.replace("chain_id = 7", "chain_id = 4096"),
        "port_chains \"green-web-chain\": chain_id: ",
        "4096 is outside 1..=4095",
    );
    refused(
        &EXAMPLE.replace("chain_id = 7", "chain_id = 0"),
        "port_chains \"green-web-chain\": chain_id: ",
        "0 is outside 1..=4095",
    );
}

#[test]
fn chain_id_used_twice() {
    let text = with(&SECOND_CHAIN.replace("chain_id = 8", "chain_id = 7"));
    refused(
        &text,
        "port_chains \"second-chain\": chain_id: ",
        "7 is already used by port chain \"green-web-chain\"",
    );
}

#[test]
fn empty_chain() {
    let text = EXAMPLE.replace(
        "port_pair_groups = [\"firewalls\"]",
        "port_pair_groups = []",
    );
    refused(
        &text,
        "port_chains \"green-web-chain\": port_pair_groups: ",
        "is empty",
    );
}

#[test]
fn chain_with_unknown_group_or_classifier() {
    let text = EXAMPLE.replace(
        "port_pair_groups = [\"firewalls\"]",
        "port_pair_groups = [\"routers\"]",
    );
    refused(
        &text,
        "port_chains \"green-web-chain\": port_pair_groups: ",
        "unknown port pair group \"routers\"",
    );
    let text = EXAMPLE.replace(
        "flow_classifiers = [\"green-web-traffic\"]",
        "flow_classifiers = [\"web\"]",
    );
    refused(
        &text,
        "port_chains \"green-web-chain\": flow_classifiers: ",
        "unknown flow classifier \"web\"",
    );
}

#[test]
fn group_in_two_chains() {
    let text = with(&SECOND_CHAIN.replace(
        "port_pair_groups = [\"more-firewalls\"]",
        "port_pair_groups = [\"firewalls\"]",
    ));
    refused(
        &text,
        "port_chains \"second-chain\": port_pair_groups: ",
        "port pair group \"firewalls\" is already in port chain \"green-web-chain\"",
    );
}

#[test]
fn classifier_in_two_chains() {
    let text = with(&format!(
        "{SECOND_CHAIN}flow_classifiers = [\"green-web-traffic\"]"
    ));
    refused(
        &text,
        "port_chains \"second-chain\": flow_classifiers: ",
        "flow classifier \"green-web-traffic\" is already in port chain \"green-web-chain\"",
    );
}

#[test]
fn chain_correlation_unknown() {
    let text = edit(
        "[[port_chains]]",
        "correlation = \"mpls\"",
        "correlation = \"none\"",
    );
    refused(
        &text,
        "port_chains \"green-web-chain\": correlation: ",
        "unknown value \"none\"; expected one of: mpls, nsh",
    );
}

#[test]
fn pair_correlation_differs_from_the_chain() {
    let text = EXAMPLE.replace("correlation = \"none\"", "correlation = \"nsh\"");
    refused(
        &text,
        "port_chains \"green-web-chain\": correlation: ",
        "port pair \"fw1\" of group \"firewalls\" expects nsh, the chain uses mpls",
    );
    let t = accepted(&EXAMPLE.replace("correlation = \"none\"", "correlation = \"mpls\""));
    assert_eq!(t.port_pairs[0].correlation, Some(Correlation::Mpls));
}

#[test]
fn symmetric_chain_needs_both_logical_ports() {
    let text = EXAMPLE.replace("symmetric = false", "symmetric = true");
    refused(
        &text,
        "port_chains \"green-web-chain\": symmetric: ",
        "flow classifier \"green-web-traffic\" has no logical_destination_port",
    );
    let text = text.replace(
        "logical_source_port = \"green-vm1\"",
        "logical_source_port = \"green-vm1\"\nlogical_destination_port = \"green-web\"",
    );
    let t = accepted(&text);
    assert!(t.port_chains[0].symmetric);
    assert_eq!(
        t.flow_classifiers[0].logical_destination_port,
        t.logical_port_by_name("green-web")
    );
}

#[test]
fn conntrack_defaults_are_linux_timeouts_and_a_sized_table() {
    let t = accepted(EXAMPLE);
    assert_eq!(t.conntrack.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(t.conntrack.mapping, nat::Mapping::AddressAndPortDependent);
    assert_eq!(t.conntrack.timeouts.tcp_established, 432_000);
    assert_eq!(t.conntrack.timeouts.udp_unreplied, 30);
}

#[test]
fn conntrack_section_sets_size_mapping_and_timeouts() {
    let t = accepted(&with(
        "[conntrack]\nmax_connections = 1000\nmapping = \"endpoint-independent\"\n\
         tcp_timeout_established = 7200\nudp_timeout = 10\nicmp_timeout = 5",
    ));
    assert_eq!(t.conntrack.max_connections, 1000);
    assert_eq!(t.conntrack.mapping, nat::Mapping::EndpointIndependent);
    let timeouts = t.conntrack.timeouts;
    assert_eq!(
        (
            timeouts.tcp_established,
            timeouts.udp_unreplied,
            timeouts.icmp
        ),
        (7200, 10, 5)
    );
    assert_eq!(
        timeouts.tcp_syn_sent, 120,
        "unset fields keep their default"
    );
}

#[test]
fn conntrack_refusals_name_the_field() {
    refused(
        &with("[conntrack]\nmax_connections = 0"),
        "conntrack \"conntrack\": max_connections",
        "outside",
    );
    refused(
        &with("[conntrack]\nmapping = \"full-cone\""),
        "conntrack \"conntrack\": mapping",
        "unknown value",
    );
    refused(
        &with("[conntrack]\ntcp_timeout_close = 0"),
        "conntrack \"conntrack\": tcp_timeout_close",
        "outside",
    );
}

#[test]
fn symmetric_chain_has_at_most_127_groups() {
    // The reverse direction's service indexes continue below the forward ones.
    let chain = |groups: usize| {
        let mut extra = String::from(
            "[[flow_classifiers]]\nname = \"both\"\nethertype = \"IPv4\"\n\
             logical_source_port = \"green-vm1\"\nlogical_destination_port = \"fw1-in\"\n",
        );
        let mut names = Vec::new();
        for g in 0..groups {
            extra += &format!(
                "[[port_pairs]]\nname = \"p{g}\"\ningress = \"fw1-in\"\negress = \"fw1-out\"\n\
                 [[port_pair_groups]]\nname = \"g{g}\"\nport_pairs = [\"p{g}\"]\n"
            );
            names.push(format!("\"g{g}\""));
        }
        extra += &format!(
            "[[port_chains]]\nname = \"big\"\nchain_id = 8\nport_pair_groups = [{}]\n\
             flow_classifiers = [\"both\"]\nsymmetric = true\n",
            names.join(", ")
        );
        with(&extra)
    };
    assert_eq!(
        accepted(&chain(127)).port_chains[1].port_pair_groups.len(),
        127
    );
    refused(
        &chain(128),
        "port_chains \"big\": port_pair_groups: ",
        "more than 127 groups in a symmetric chain",
    );
}

#[test]
fn chain_mpls_ttl_defaults_to_255_and_is_bounded() {
    assert_eq!(accepted(EXAMPLE).port_chains[0].mpls_ttl, 255);
    let with_ttl = |ttl: &str| {
        edit(
            "[[port_chains]]",
            "symmetric = false",
            &format!("symmetric = false\nmpls_ttl = {ttl}"),
        )
    };
    assert_eq!(accepted(&with_ttl("64")).port_chains[0].mpls_ttl, 64);
    for bad in ["0", "256", "-1"] {
        refused(
            &with_ttl(bad),
            "port_chains \"green-web-chain\": mpls_ttl: ",
            "outside 1..=255",
        );
    }
}

// ---- local services ----

#[test]
fn the_example_gets_the_services_defaults() {
    let t = accepted(EXAMPLE);
    let green = &t.networks[t.network_by_name("green-net").unwrap().index()];
    assert_eq!(green.services, NetworkServices::default());
    assert!(green.services.dhcp);
    assert_eq!(green.services.lease_time, 86_400);
    assert_eq!(green.services.mtu, 1500);
    let vm1 = &t.logical_ports[t.logical_port_by_name("green-vm1").unwrap().index()];
    assert_eq!(vm1.extra_dhcp, ExtraDhcp::default());
}

#[test]
fn network_services_fields_are_read() {
    let text = edit(
        "name = \"green-net\"",
        "gateway_ip = \"10.0.0.1\"",
        r#"gateway_ip = "10.0.0.1"
dhcp = false
dns_servers = ["10.0.0.2", "192.0.2.53"]
domain = "green.example."
lease_time = 600
host_routes = [{ destination = "192.168.0.0/16", nexthop = "10.0.0.254" }]
mtu = 9000"#,
    );
    let t = accepted(&text);
    let s = &t.networks[t.network_by_name("green-net").unwrap().index()].services;
    assert!(!s.dhcp);
    assert_eq!(s.dns_servers, vec![ip("10.0.0.2"), ip("192.0.2.53")]);
    assert_eq!(s.domain.as_deref(), Some("green.example"));
    assert_eq!(s.lease_time, 600);
    assert_eq!(s.host_routes.len(), 1);
    assert_eq!(s.host_routes[0].nexthop, ip("10.0.0.254"));
    assert_eq!(s.mtu, 9000);
}

#[test]
fn network_services_refusals_name_the_field() {
    let green = |field: &str| {
        edit(
            "name = \"green-net\"",
            "gateway_ip = \"10.0.0.1\"",
            &format!("gateway_ip = \"10.0.0.1\"\n{field}"),
        )
    };
    let cases = [
        (r#"dns_servers = ["fd00::53"]"#, "dns_servers", "is IPv6"),
        (
            r#"dns_servers = ["dns.example"]"#,
            "dns_servers",
            "not an IP address",
        ),
        (
            r#"dns_servers = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]"#,
            "dns_servers",
            "at most 3",
        ),
        (
            r#"domain = "bad domain""#,
            "domain",
            "not a DNS domain name",
        ),
        ("lease_time = 10", "lease_time", "outside 60..="),
        ("mtu = 100", "mtu", "outside 576..=9216"),
        (
            r#"host_routes = [{ destination = "192.168.0.1/16", nexthop = "10.0.0.254" }]"#,
            "host_routes",
            "host bits set",
        ),
        (
            r#"host_routes = [{ destination = "fd00::/64", nexthop = "10.0.0.254" }]"#,
            "host_routes",
            "is IPv6",
        ),
        (
            r#"ipv6_ra_mode = "slaac""#,
            "ipv6_ra_mode",
            "set on an IPv4 network",
        ),
    ];
    for (line, field, detail) in cases {
        refused(
            &green(line),
            &format!("networks \"green-net\": {field}: "),
            detail,
        );
    }
}

#[test]
fn ipv6_ra_mode_is_one_of_neutrons() {
    let v6 = r#"
[[networks]]
name = "v6"
tenant = "green"
vni = 3001
cidr = "fd00:9::/64"
gateway_ip = "fd00:9::1"
ipv6_ra_mode = "#;
    let t = accepted(&with(&format!("{v6}\"dhcpv6-stateless\"")));
    let net = &t.networks[t.network_by_name("v6").unwrap().index()];
    assert_eq!(net.services.ipv6_ra_mode, RaMode::Dhcpv6Stateless);
    refused(
        &with(&format!("{v6}\"radvd\"")),
        "networks \"v6\": ipv6_ra_mode: ",
        "expected one of: slaac, dhcpv6-stateful, dhcpv6-stateless",
    );
}

#[test]
fn extra_dhcp_opts_are_encoded_by_name_and_number() {
    let text = edit(
        "name = \"green-vm1\"",
        "port = \"vm1\"",
        r#"port = "vm1"
extra_dhcp_opts = [
  { opt_name = "bootfile-name", opt_value = "pxelinux.0" },
  { opt_name = "option:ntp-server", opt_value = "10.0.0.3, 10.0.0.4" },
  { opt_name = "mtu", opt_value = "1400" },
  { opt_name = "server-ip-address", opt_value = "10.0.0.10" },
  { opt_name = "224", opt_value = "site" },
  { opt_name = "bootfile-name", opt_value = "ipxe.efi" },
  { opt_name = "dns-server", opt_value = "fd00::1", ip_version = 6 },
]"#,
    );
    let t = accepted(&text);
    let extra = &t.logical_ports[t.logical_port_by_name("green-vm1").unwrap().index()].extra_dhcp;
    let codes: Vec<(u8, &[u8])> = extra
        .options
        .iter()
        .map(|o| (o.code, &o.value[..]))
        .collect();
    assert_eq!(
        codes,
        vec![
            (42, &[10, 0, 0, 3, 10, 0, 0, 4][..]),
            (26, &[0x05, 0x78][..]),
            (224, &b"site"[..]),
            // The later one of the same code wins, in its place.
            (67, &b"ipxe.efi"[..]),
        ]
    );
    assert_eq!(extra.next_server, Some("10.0.0.10".parse().unwrap()));
}

#[test]
fn extra_dhcp_opts_refusals_name_the_field() {
    let vm1 = |opt: &str| {
        edit(
            "name = \"green-vm1\"",
            "port = \"vm1\"",
            &format!("port = \"vm1\"\nextra_dhcp_opts = [{opt}]"),
        )
    };
    let field = "logical_ports \"green-vm1\": extra_dhcp_opts: ";
    let cases = [
        (
            r#"{ opt_name = "bootfile", opt_value = "x" }"#,
            "unknown option \"bootfile\"",
        ),
        (
            r#"{ opt_name = "mtu", opt_value = "big" }"#,
            "not a number 0-65535",
        ),
        (
            r#"{ opt_name = "ntp-server", opt_value = "ntp.example" }"#,
            "IPv4 addresses",
        ),
        (
            r#"{ opt_name = "53", opt_value = "x" }"#,
            "set by the responder itself",
        ),
        (
            r#"{ opt_name = "bootfile-name", opt_value = "" }"#,
            "1 to 255 bytes",
        ),
        (
            r#"{ opt_name = "tftp-server", opt_value = "x", ip_version = 5 }"#,
            "ip_version 5",
        ),
        (
            r#"{ opt_name = "server-ip-address", opt_value = "fd00::1" }"#,
            "not an IPv4 address",
        ),
    ];
    for (opt, detail) in cases {
        refused(&vm1(opt), field, detail);
    }
}

#[test]
fn vhost_user_mode_and_queues() {
    let text = EXAMPLE.replace(
        "socket = \"/run/dataplane/vm1.sock\"",
        "socket = \"/run/dataplane/vm1.sock\"\nvhost_mode = \"client\"\nqueues = 4",
    );
    let t = accepted(&text);
    let vm1 = t.port(t.port_by_name("vm1").unwrap());
    assert_eq!(
        vm1.driver,
        Driver::VhostUser {
            socket: PathBuf::from("/run/dataplane/vm1.sock"),
            mode: VhostMode::Client,
        }
    );
    assert_eq!(vm1.queues, 4);
    refused(
        &text.replace("vhost_mode = \"client\"", "vhost_mode = \"listen\""),
        "ports \"vm1\": vhost_mode: ",
        "unknown value \"listen\"; expected one of: server, client",
    );
    refused(
        &text.replace("queues = 4", "queues = 0"),
        "ports \"vm1\": queues: ",
        "0 is outside 1..=64",
    );
    refused(
        &EXAMPLE.replace(
            "ifname = \"eth1\"",
            "ifname = \"eth1\"\nvhost_mode = \"server\"",
        ),
        "ports \"uplink\": vhost_mode: ",
        "not used by driver af-xdp",
    );
}
