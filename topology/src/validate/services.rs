//! The local services' settings: a network's DHCP and router advertisement fields, a
//! logical port's extra DHCP options.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::{family, Obj, Result};
use crate::file;
use crate::model::*;

/// What smoltcp's DHCP message carries in its DNS option.
const MAX_DNS_SERVERS: usize = 3;
/// Option 121 holds at most 255 bytes: 16 routes of 9 and the default route.
const MAX_HOST_ROUTES: usize = 16;
/// What one answer carries besides the network's options.
const MAX_EXTRA_OPTIONS: usize = 24;

pub(super) fn network_services(
    obj: Obj,
    n: &file::Network,
    cidr: &IpNet,
) -> Result<NetworkServices> {
    let defaults = NetworkServices::default();
    let same_family = |field: &'static str, ip: IpAddr| -> Result<IpAddr> {
        if ip.is_ipv4() != cidr.addr().is_ipv4() {
            let message = format!(
                "{ip} is {} but the cidr {cidr} is {}",
                family(ip),
                family(cidr.addr())
            );
            return Err(obj.err(field, message));
        }
        Ok(ip)
    };
    let dns_servers = n
        .dns_servers
        .iter()
        .flatten()
        .map(|s| same_family("dns_servers", obj.ip("dns_servers", s)?))
        .collect::<Result<Vec<_>>>()?;
    if dns_servers.len() > MAX_DNS_SERVERS {
        let message = format!("{} servers, at most {MAX_DNS_SERVERS}", dns_servers.len());
        return Err(obj.err("dns_servers", message));
    }
    let domain = n
        .domain
        .as_deref()
        .map(|d| domain_name(obj, d))
        .transpose()?;
    let host_routes = n
        .host_routes
        .iter()
        .flatten()
        .map(|route| {
            let destination = obj.cidr("host_routes", &route.destination)?;
            same_family("host_routes", destination.addr())?;
            let nexthop = same_family("host_routes", obj.ip("host_routes", &route.nexthop)?)?;
            Ok(HostRoute {
                destination,
                nexthop,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if host_routes.len() > MAX_HOST_ROUTES {
        let message = format!("{} routes, at most {MAX_HOST_ROUTES}", host_routes.len());
        return Err(obj.err("host_routes", message));
    }
    let ipv6_ra_mode = match &n.ipv6_ra_mode {
        None => RaMode::Slaac,
        Some(mode) => {
            if cidr.addr().is_ipv4() {
                return Err(obj.err("ipv6_ra_mode", format!("set on an IPv4 network ({cidr})")));
            }
            obj.choice(
                "ipv6_ra_mode",
                mode,
                &[
                    ("slaac", RaMode::Slaac),
                    ("dhcpv6-stateful", RaMode::Dhcpv6Stateful),
                    ("dhcpv6-stateless", RaMode::Dhcpv6Stateless),
                ],
            )?
        }
    };
    // IPv6 needs 1280 (RFC 8200); IPv4's least is 68 (RFC 791).
    let least_mtu = if cidr.addr().is_ipv4() { 576 } else { 1280 };
    Ok(NetworkServices {
        dhcp: n.dhcp.unwrap_or(defaults.dhcp),
        dns_servers,
        domain,
        lease_time: n
            .lease_time
            .map(|t| obj.int("lease_time", t, 60..=i64::from(u32::MAX)))
            .transpose()?
            .unwrap_or(defaults.lease_time),
        host_routes,
        mtu: n
            .mtu
            .map(|m| obj.int("mtu", m, least_mtu..=9216))
            .transpose()?
            .unwrap_or(defaults.mtu),
        ipv6_ra_mode,
    })
}

/// A DNS domain: labels of letters, digits and hyphens, at most 253 characters.
fn domain_name(obj: Obj, domain: &str) -> Result<String> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.split('.').all(label_ok) {
        return Err(obj.err("domain", format!("\"{domain}\" is not a DNS domain name")));
    }
    Ok(trimmed.to_string())
}

/// How an option's text value is encoded.
#[derive(Clone, Copy)]
enum Encoding {
    Text,
    Ipv4List,
    U16,
    U32,
}

/// The options dnsmasq (Neutron's DHCP agent) knows by name that a cloud image or a
/// PXE boot uses.
const NAMED_OPTIONS: &[(&str, u8, Encoding)] = &[
    ("router", 3, Encoding::Ipv4List),
    ("dns-server", 6, Encoding::Ipv4List),
    ("log-server", 7, Encoding::Ipv4List),
    ("hostname", 12, Encoding::Text),
    ("domain-name", 15, Encoding::Text),
    ("mtu", 26, Encoding::U16),
    ("ntp-server", 42, Encoding::Ipv4List),
    ("lease-time", 51, Encoding::U32),
    ("T1", 58, Encoding::U32),
    ("T2", 59, Encoding::U32),
    ("tftp-server", 66, Encoding::Text),
    ("bootfile-name", 67, Encoding::Text),
    ("user-class", 77, Encoding::Text),
    ("tftp-server-address", 150, Encoding::Ipv4List),
];

/// The options the responder sets itself and a port may not replace: message type,
/// server identifier, subnet mask, the parameter list and the end.
const RESERVED: &[u8] = &[0, 1, 53, 54, 55, 255];

pub(super) fn extra_dhcp(obj: Obj, opts: &[file::ExtraDhcpOpt]) -> Result<ExtraDhcp> {
    if opts.len() > MAX_EXTRA_OPTIONS {
        let message = format!("{} options, at most {MAX_EXTRA_OPTIONS}", opts.len());
        return Err(obj.err("extra_dhcp_opts", message));
    }
    let mut extra = ExtraDhcp::default();
    for opt in opts {
        let field = "extra_dhcp_opts";
        match opt.ip_version {
            None | Some(4) => {}
            Some(6) => continue, // DHCPv6 is not served; kept in the file only.
            Some(v) => {
                return Err(obj.err(
                    field,
                    format!("{}: ip_version {v} is not 4 or 6", opt.opt_name),
                ))
            }
        }
        let name = opt
            .opt_name
            .strip_prefix("option:")
            .unwrap_or(&opt.opt_name);
        let value = opt.opt_value.as_str();
        if name == "server-ip-address" {
            let ip: Ipv4Addr = value.parse().map_err(|_| {
                obj.err(
                    field,
                    format!("server-ip-address: \"{value}\" is not an IPv4 address"),
                )
            })?;
            extra.next_server = Some(ip);
            continue;
        }
        let (code, encoding) = match NAMED_OPTIONS.iter().find(|(n, _, _)| *n == name) {
            Some(&(_, code, encoding)) => (code, encoding),
            None => match name.parse::<u8>() {
                Ok(code) => (code, Encoding::Text),
                Err(_) => {
                    let names: Vec<&str> = NAMED_OPTIONS.iter().map(|(n, _, _)| *n).collect();
                    let message = format!(
                        "unknown option \"{name}\"; expected a number (1-254), server-ip-address or one of: {}",
                        names.join(", ")
                    );
                    return Err(obj.err(field, message));
                }
            },
        };
        if RESERVED.contains(&code) {
            return Err(obj.err(
                field,
                format!("{name}: option {code} is set by the responder itself"),
            ));
        }
        let value = encode(value, encoding)
            .map_err(|why| obj.err(field, format!("{name}: \"{value}\" {why}")))?;
        if value.is_empty() || value.len() > 255 {
            return Err(obj.err(field, format!("{name}: a value of 1 to 255 bytes")));
        }
        extra.options.retain(|o| o.code != code);
        extra.options.push(DhcpOption { code, value });
    }
    Ok(extra)
}

fn encode(value: &str, encoding: Encoding) -> std::result::Result<Vec<u8>, &'static str> {
    Ok(match encoding {
        Encoding::Text => value.as_bytes().to_vec(),
        Encoding::Ipv4List => {
            let mut bytes = Vec::new();
            for part in value.split(',') {
                let ip: Ipv4Addr = part
                    .trim()
                    .parse()
                    .map_err(|_| "is not a comma-separated list of IPv4 addresses")?;
                bytes.extend_from_slice(&ip.octets());
            }
            bytes
        }
        Encoding::U16 => value
            .parse::<u16>()
            .map_err(|_| "is not a number 0-65535")?
            .to_be_bytes()
            .to_vec(),
        Encoding::U32 => value
            .parse::<u32>()
            .map_err(|_| "is not a number 0-4294967295")?
            .to_be_bytes()
            .to_vec(),
    })
}
