//! Views and reconciliation over keys built by hand (no etcd: the agent's tests with
//! a real etcd are in dataplane/tests/etcd.rs).

use topology::file::Port;
use topology::Binding;

use crate::cloud_file::CloudFile;
use crate::layout::Key;
use crate::objects::{Object, Registration};
use crate::reconcile::{Raw, Reconciler};

const CLOUD: &str = r#"
[[nodes]]
name = "n1"
vtep_ip = "192.0.2.1"
uplink = "uplink"
uplink_mac = "02:00:00:00:00:01"
[[nodes.ports]]
name = "uplink"
driver = "pcap"
[[nodes.ports]]
name = "vm"
driver = "pcap"

[[nodes]]
name = "n2"
vtep_ip = "192.0.2.2"
uplink = "uplink"
uplink_mac = "02:00:00:00:00:02"
[[nodes.ports]]
name = "uplink"
driver = "pcap"
[[nodes.ports]]
name = "vm"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 100
cidr = "10.0.0.0/24"

[[logical_ports]]
name = "a"
network = "net"
mac = "fa:16:3e:00:00:0a"
ip = "10.0.0.10"
chassis = "n1"
port = "vm"

[[logical_ports]]
name = "b"
network = "net"
mac = "fa:16:3e:00:00:0b"
ip = "10.0.0.11"
chassis = "n2"
port = "vm"
"#;

fn raw(registered: &[&str]) -> Raw {
    let objects = CloudFile::parse(CLOUD).unwrap().checked_objects().unwrap();
    let mut raw: Raw = objects
        .iter()
        .map(|(key, object)| (key.text("/c"), object.encode().into_bytes()))
        .collect();
    for node in registered {
        let registration = Registration {
            name: (*node).into(),
            vtep_ip: None,
            mac: None,
            version: "test".into(),
        };
        let key = Key::Registration {
            node: (*node).into(),
        };
        raw.insert(
            key.text("/c"),
            Object::Registration(registration).encode().into_bytes(),
        );
    }
    raw
}

fn binding(file: &topology::file::TopologyFile, name: &str) -> Binding {
    let topology = topology::Topology::from_file(file).unwrap();
    topology
        .logical_ports
        .iter()
        .find(|lp| lp.name == name)
        .unwrap()
        .binding
}

#[test]
fn each_node_sees_its_ports_local_and_the_others_remote() {
    let raw = raw(&["n1", "n2"]);
    let n1 = Reconciler::new("/c", "n1").reconcile(&raw, None).unwrap();
    let n2 = Reconciler::new("/c", "n2").reconcile(&raw, None).unwrap();
    assert!(n1.refused.is_empty(), "{:?}", n1.refused);
    assert_eq!(n1.file.node.name, "n1");
    assert_eq!(n1.file.chassis.len(), 1);
    assert_eq!(n1.file.chassis[0].name, "n2");
    assert_eq!(n1.file.chassis[0].vtep_ip, "192.0.2.2");
    assert!(!n1.file.chassis[0].down);
    assert!(matches!(binding(&n1.file, "a"), Binding::Local { .. }));
    assert!(matches!(binding(&n1.file, "b"), Binding::Remote { .. }));
    assert!(matches!(binding(&n2.file, "a"), Binding::Remote { .. }));
    assert!(matches!(binding(&n2.file, "b"), Binding::Local { .. }));
}

#[test]
fn a_node_without_registration_is_down() {
    let n1 = Reconciler::new("/c", "n1")
        .reconcile(&raw(&["n1"]), None)
        .unwrap();
    assert!(n1.file.chassis[0].down);
    assert_eq!(crate::view::nodes_down(&n1.objects, "n1"), vec!["n2"]);
}

#[test]
fn a_malformed_key_is_refused_by_name_and_the_rest_applies() {
    let mut raw = raw(&["n1", "n2"]);
    raw.insert("/c/networks/broken".into(), b"{not json".to_vec());
    raw.insert(
        "/c/logical_ports/c".into(),
        br#"{"name":"c","network":"nowhere","mac":"fa:16:3e:00:00:0c","chassis":"n1","port":"vm"}"#
            .to_vec(),
    );
    let n1 = Reconciler::new("/c", "n1").reconcile(&raw, None).unwrap();
    let keys: Vec<&str> = n1.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["/c/networks/broken", "/c/logical_ports/c"]);
    assert!(
        n1.refused[1].reason.contains("network"),
        "{:?}",
        n1.refused[1]
    );
    let names: Vec<&str> = n1
        .file
        .logical_ports
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(n1.file.networks.len(), 1);
}

#[test]
fn a_refused_update_keeps_the_version_applied_before() {
    let mut reconciler = Reconciler::new("/c", "n1");
    let mut raw = raw(&["n1", "n2"]);
    let first = reconciler.reconcile(&raw, None).unwrap();
    reconciler.applied(first.objects);
    // An invalid address, then a value that is no JSON: the applied "a" stays.
    for bad in [
        &br#"{"name":"a","network":"net","mac":"fa:16:3e:00:00:0a","ip":"10.0.0.300","chassis":"n1","port":"vm"}"#[..],
        b"garbage",
    ] {
        raw.insert("/c/logical_ports/a".into(), bad.to_vec());
        let next = reconciler.reconcile(&raw, None).unwrap();
        assert_eq!(next.refused.len(), 1);
        assert_eq!(next.refused[0].key, "/c/logical_ports/a");
        let a = next.file.logical_ports.iter().find(|l| l.name == "a").unwrap();
        assert_eq!(a.ip.as_deref(), Some("10.0.0.10"));
    }
}

#[test]
fn deleting_a_network_in_use_refuses_its_ports_not_the_deletion() {
    let mut raw = raw(&["n1", "n2"]);
    raw.remove("/c/networks/net");
    let n1 = Reconciler::new("/c", "n1").reconcile(&raw, None).unwrap();
    assert!(n1.file.networks.is_empty());
    assert!(n1.file.logical_ports.is_empty());
    let keys: Vec<&str> = n1.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["/c/logical_ports/a", "/c/logical_ports/b"]);
}

#[test]
fn ports_the_running_dataplane_cannot_take_are_refused() {
    let mut raw = raw(&["n1", "n2"]);
    raw.insert(
        "/c/nodes/n1/ports/extra".into(),
        br#"{"name":"extra","driver":"pcap"}"#.to_vec(),
    );
    raw.insert(
        "/c/nodes/n1/ports/vm".into(),
        br#"{"name":"vm","driver":"pcap","mtu":9000}"#.to_vec(),
    );
    let port = |name: &str| -> Port {
        serde_json::from_str(&format!(r#"{{"name":"{name}","driver":"pcap"}}"#)).unwrap()
    };
    let running = [port("uplink"), port("vm")];
    let n1 = Reconciler::new("/c", "n1")
        .reconcile(&raw, Some(&running))
        .unwrap();
    let keys: Vec<&str> = n1.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["/c/nodes/n1/ports/extra"]);
    let ports: Vec<(&str, i64)> = n1
        .file
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.mtu))
        .collect();
    assert_eq!(ports, [("uplink", 1500), ("vm", 9000)]);
}

#[test]
fn a_cloud_file_any_node_would_refuse_is_refused_naming_the_node() {
    let bad = CLOUD.replace("vtep_ip = \"192.0.2.2\"", "vtep_ip = \"192.0.2.1\"");
    let error = CloudFile::parse(&bad)
        .unwrap()
        .checked_objects()
        .unwrap_err();
    assert!(
        error.starts_with("nodes \"n1\": chassis \"n2\": vtep_ip"),
        "{error}"
    );
    let unknown = CLOUD.replace("chassis = \"n2\"", "chassis = \"n9\"");
    let error = CloudFile::parse(&unknown)
        .unwrap()
        .checked_objects()
        .unwrap_err();
    assert_eq!(
        error,
        "logical_ports \"b\": chassis: no node \"n9\" in the file"
    );
    let misspelt = CLOUD.replace("uplink_mac = \"02:00:00:00:00:02\"", "uplink_macc = \"x\"");
    let error = CloudFile::parse(&misspelt).unwrap_err();
    assert!(error.contains("uplink_macc"), "{error}");
}
