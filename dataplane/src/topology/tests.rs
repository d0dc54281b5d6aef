use super::*;
const EXAMPLE: &str = include_str!("../../tests/data/topology-example.toml");
#[test]
fn probe() {
    println!("{:?}", Topology::from_toml_str(EXAMPLE).map(|t| t.networks));
    for t in [
        EXAMPLE.replace("vni = 1002", "vnii = 1002"),
        EXAMPLE.replace("vni = 1002", "vni = \"x\""),
        EXAMPLE.replace("protocol = \"tcp\"", "protocol = true"),
        format!("{EXAMPLE}\n[[chassis]]\nname = \"c3\"\nvtep_ip = \"192.0.2.12\"\n"),
    ] {
        println!("---\n{}", Topology::from_toml_str(&t).unwrap_err());
    }
    println!(
        "---\n{}",
        Topology::load(std::path::Path::new("/nonexistent/x.toml")).unwrap_err()
    );
}
