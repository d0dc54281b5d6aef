//! Tuple space search: one hash table per distinct mask.

use hashbrown::HashMap;

use crate::key::{Key, Mask};
use crate::rule::{range_to_prefixes, Rule};

/// Lower is better: the most specific rule first ([`Rule::specificity`]), then the
/// rule listed first (file order). A deterministic, documented winner when classifiers
/// overlap; networking-sfc itself refuses most overlaps between chains, so this
/// mostly orders the classifiers of one chain, where any winner gives the same chain.
type Rank = u64;

fn rank(rule: &Rule, order: usize) -> Rank {
    (u64::from(1024 - rule.specificity()) << 32) | order as u64
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    rank: Rank,
    value: u32,
}

#[derive(Clone, Debug)]
struct Tuple {
    mask: Mask,
    /// The best rank in `table`: once a match beats it, no later tuple can win.
    best: Rank,
    table: HashMap<Key, Entry>,
}

/// A compiled rule set. Immutable: a new configuration compiles a new one.
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// Per family (IPv4, IPv6), sorted by their best rank.
    tuples: [Vec<Tuple>; 2],
    rules: usize,
    uses_logical_dst: bool,
}

impl Classifier {
    /// Compiles `rules` (in priority order for equal specificity: file order).
    pub fn build(rules: &[Rule]) -> Classifier {
        let mut index: HashMap<Mask, usize> = HashMap::new();
        let mut tuples: Vec<Tuple> = Vec::new();
        for (order, rule) in rules.iter().enumerate() {
            let entry = Entry {
                rank: rank(rule, order),
                value: rule.value,
            };
            let blocks = |range: Option<(u16, u16)>| match range {
                None => vec![(0u16, 0u8)],
                Some((first, last)) => range_to_prefixes(first, last),
            };
            let (src_blocks, dst_blocks) = (blocks(rule.src_ports), blocks(rule.dst_ports));
            for &(src_port, src_port_len) in &src_blocks {
                for &(dst_port, dst_port_len) in &dst_blocks {
                    let mask = Mask {
                        ipv6: rule.ipv6,
                        protocol: rule.protocol.is_some(),
                        src_len: rule.src_prefix.map_or(0, |p| p.len),
                        dst_len: rule.dst_prefix.map_or(0, |p| p.len),
                        src_port_len,
                        dst_port_len,
                        logical_src: rule.logical_src.is_some(),
                        logical_dst: rule.logical_dst.is_some(),
                    };
                    let key = mask.apply(&Key {
                        ipv6: rule.ipv6,
                        protocol: rule.protocol.unwrap_or(0),
                        src: rule.src_prefix.map_or([0; 16], |p| p.addr),
                        dst: rule.dst_prefix.map_or([0; 16], |p| p.addr),
                        src_port,
                        dst_port,
                        logical_src: rule.logical_src.unwrap_or(0),
                        logical_dst: rule.logical_dst.unwrap_or(0),
                    });
                    let position = *index.entry(mask).or_insert_with(|| {
                        tuples.push(Tuple {
                            mask,
                            best: Rank::MAX,
                            table: HashMap::new(),
                        });
                        tuples.len() - 1
                    });
                    let tuple = &mut tuples[position];
                    tuple.best = tuple.best.min(entry.rank);
                    let slot = tuple.table.entry(key).or_insert(entry);
                    if entry.rank < slot.rank {
                        *slot = entry;
                    }
                }
            }
        }
        let mut by_family: [Vec<Tuple>; 2] = [Vec::new(), Vec::new()];
        for tuple in tuples {
            by_family[usize::from(tuple.mask.ipv6)].push(tuple);
        }
        for family in &mut by_family {
            family.sort_by_key(|t| t.best);
        }
        Classifier {
            tuples: by_family,
            rules: rules.len(),
            uses_logical_dst: rules.iter().any(|r| r.logical_dst.is_some()),
        }
    }

    /// The `value` of the winning rule for `key`, if any rule matches.
    #[inline]
    pub fn classify(&self, key: &Key) -> Option<u32> {
        let mut found: Option<Entry> = None;
        for tuple in &self.tuples[usize::from(key.ipv6)] {
            if found.is_some_and(|f| f.rank < tuple.best) {
                break;
            }
            if let Some(entry) = tuple.table.get(&tuple.mask.apply(key)) {
                if found.is_none_or(|f| entry.rank < f.rank) {
                    found = Some(*entry);
                }
            }
        }
        found.map(|e| e.value)
    }

    /// Some rule names a logical destination port: the caller must work it out.
    pub fn uses_logical_destination(&self) -> bool {
        self.uses_logical_dst
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Distinct masks: the number of hash probes of a lookup, at worst.
    pub fn tables(&self) -> usize {
        self.tuples[0].len() + self.tuples[1].len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Prefix;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut out = [0; 16];
        out[..4].copy_from_slice(&a);
        out
    }

    fn key(dst: [u8; 4], dport: u16, lsrc: u32) -> Key {
        Key {
            ipv6: false,
            protocol: 6,
            src: v4([10, 0, 0, 5]),
            dst: v4(dst),
            src_port: 40000,
            dst_port: dport,
            logical_src: lsrc,
            logical_dst: Key::NO_PORT,
        }
    }

    #[test]
    fn the_contract_example_matches_only_its_traffic() {
        let mut rule = Rule::any(false, 7);
        rule.protocol = Some(6);
        rule.dst_ports = Some((80, 80));
        rule.logical_src = Some(0);
        rule.dst_prefix = Some(Prefix::v4(Ipv4Addr::new(10, 0, 0, 9), 32));
        let c = Classifier::build(&[rule]);
        assert_eq!(c.classify(&key([10, 0, 0, 9], 80, 0)), Some(7));
        assert_eq!(c.classify(&key([10, 0, 0, 9], 81, 0)), None);
        assert_eq!(c.classify(&key([10, 0, 0, 8], 80, 0)), None);
        assert_eq!(c.classify(&key([10, 0, 0, 9], 80, 1)), None);
        let mut udp = key([10, 0, 0, 9], 80, 0);
        udp.protocol = 17;
        assert_eq!(c.classify(&udp), None);
        let mut v6 = key([10, 0, 0, 9], 80, 0);
        v6.ipv6 = true;
        assert_eq!(c.classify(&v6), None);
    }

    #[test]
    fn most_specific_wins_then_file_order() {
        let wide = Rule {
            dst_prefix: Some(Prefix::v4(Ipv4Addr::new(10, 0, 0, 0), 24)),
            ..Rule::any(false, 1)
        };
        let narrow = Rule {
            dst_prefix: Some(Prefix::v4(Ipv4Addr::new(10, 0, 0, 9), 32)),
            ..Rule::any(false, 2)
        };
        let narrow_again = Rule { value: 3, ..narrow };
        let c = Classifier::build(&[wide, narrow, narrow_again]);
        assert_eq!(c.classify(&key([10, 0, 0, 9], 1, 0)), Some(2));
        assert_eq!(c.classify(&key([10, 0, 0, 8], 1, 0)), Some(1));
        let c = Classifier::build(&[narrow_again, wide, narrow]);
        assert_eq!(c.classify(&key([10, 0, 0, 9], 1, 0)), Some(3));
    }

    #[test]
    fn many_rules_share_few_tables() {
        let rules: Vec<Rule> = (0..10_000u32)
            .map(|i| Rule {
                protocol: Some(6),
                dst_ports: Some((80, 80)),
                dst_prefix: Some(Prefix::v4(Ipv4Addr::from(0x0a00_0000 + i), 32)),
                ..Rule::any(false, i)
            })
            .collect();
        let c = Classifier::build(&rules);
        assert_eq!(c.tables(), 1);
        let k = key((0x0a00_0000u32 + 4321).to_be_bytes(), 80, 0);
        assert_eq!(c.classify(&k), Some(4321));
    }

    // Reference: the best-ranked matching rule by a linear scan.
    fn matches(rule: &Rule, key: &Key) -> bool {
        let prefix_ok = |p: Option<Prefix>, addr: &[u8; 16]| {
            p.is_none_or(|p| {
                (0..usize::from(p.len)).all(|bit| {
                    let m = 0x80 >> (bit % 8);
                    addr[bit / 8] & m == p.addr[bit / 8] & m
                })
            })
        };
        rule.ipv6 == key.ipv6
            && rule.protocol.is_none_or(|p| p == key.protocol)
            && rule
                .src_ports
                .is_none_or(|(a, b)| (a..=b).contains(&key.src_port))
            && rule
                .dst_ports
                .is_none_or(|(a, b)| (a..=b).contains(&key.dst_port))
            && prefix_ok(rule.src_prefix, &key.src)
            && prefix_ok(rule.dst_prefix, &key.dst)
            && rule.logical_src.is_none_or(|l| l == key.logical_src)
            && rule.logical_dst.is_none_or(|l| l == key.logical_dst)
    }

    fn reference(rules: &[Rule], key: &Key) -> Option<u32> {
        rules
            .iter()
            .enumerate()
            .filter(|(_, r)| matches(r, key))
            .min_by_key(|(order, r)| rank(r, *order))
            .map(|(_, r)| r.value)
    }

    fn small_rule() -> impl Strategy<Value = Rule> {
        let range = (0u16..8, 0u16..8).prop_map(|(a, b)| (a.min(b), a.max(b)));
        (
            proptest::option::of(prop_oneof![Just(6u8), Just(17u8)]),
            proptest::option::of(range.clone()),
            proptest::option::of(range),
            proptest::option::of((0u8..4, 29u8..=32)),
            proptest::option::of(0u32..3),
            0u32..1000,
        )
            .prop_map(|(protocol, sp, dp, dst, lsrc, value)| Rule {
                protocol,
                src_ports: sp,
                dst_ports: dp,
                dst_prefix: dst.map(|(host, len)| {
                    let addr = Ipv4Addr::new(10, 0, 0, host);
                    let masked = u32::from(addr) & (u32::MAX << (32 - u32::from(len)));
                    Prefix::v4(Ipv4Addr::from(masked), len)
                }),
                logical_src: lsrc,
                ..Rule::any(false, value)
            })
    }

    proptest! {
        #[test]
        fn agrees_with_a_linear_scan(
            rules in proptest::collection::vec(small_rule(), 0..20),
            probes in proptest::collection::vec((prop_oneof![Just(6u8), Just(17u8)], 0u16..9, 0u16..9, 0u8..5, 0u32..4), 1..30),
        ) {
            let c = Classifier::build(&rules);
            for (protocol, sp, dp, host, lsrc) in probes {
                let k = Key {
                    ipv6: false,
                    protocol,
                    src: v4([10, 0, 0, 5]),
                    dst: v4([10, 0, 0, host]),
                    src_port: sp,
                    dst_port: dp,
                    logical_src: lsrc,
                    logical_dst: Key::NO_PORT,
                };
                prop_assert_eq!(c.classify(&k), reference(&rules, &k));
            }
        }
    }
}
