//! Load distribution over a group's pairs: weighted rendezvous hashing for a new flow,
//! and per-worker pins so that a flow keeps its pair across configuration changes.

use packet::FlowKey;

use crate::chain::{Chain, Group};
use crate::expiring::ExpiringMap;
use crate::recent::RecentPairs;

/// splitmix64's finaliser: a full-avalanche 64-bit mixer.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The pair (index) a flow hash picks in a group: weighted rendezvous (highest random
/// weight) hashing, score = weight / -ln(u) with u uniform in (0, 1) from the flow and
/// the pair's key. Each pair wins with probability weight / total; removing a pair
/// moves only its own flows, and the answer depends on nothing but the flow and the
/// pairs (every worker, and both directions of a symmetric flow, agree).
#[inline]
pub fn rendezvous(group: &Group, flow_hash: u64) -> usize {
    let mut best = (0usize, f64::MIN);
    for (index, pair) in group.pairs.iter().enumerate() {
        let h = mix(flow_hash ^ mix(pair.key));
        // 53 random bits, centred in their interval: never 0 or 1.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = f64::from(pair.weight) / -u.ln();
        if score > best.1 {
            best = (index, score);
        }
    }
    best.0
}

/// Key of a pin: the chain, the group, and the flow (for a symmetric chain, its
/// direction-independent form, so that the replies find the same pin).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PinKey {
    chain_id: u16,
    group: u16,
    flow: FlowKey,
}

/// One worker's flow -> pair pins. A pin names the pair by its stable key, so it
/// survives a new configuration as long as the group still has that pair; a flow
/// whose pair is gone is placed again by [`rendezvous`]. When the table is full, new
/// flows are placed by rendezvous alone (still stable while the group is unchanged).
///
/// A group of one pair has nothing to choose: its flows get no pin, only a record of
/// the pair in [`RecentPairs`] (one cache line, no map). When such a group grows, a
/// flow it had turns its record into a pin on its first packet, so a pair added to
/// the group takes only new flows.
pub struct FlowPins {
    pins: ExpiringMap<PinKey, u64>,
    recent: RecentPairs,
    /// Packet time a group of one pair last placed a flow: until the pins' idle time
    /// has passed since, a flow of a larger group looks for a record before its pin.
    single_seen: Option<u64>,
}

/// Idle time after which a pin is forgotten.
pub const PIN_IDLE_NS: u64 = 300 * 1_000_000_000;

impl FlowPins {
    pub fn new(capacity: usize) -> Self {
        FlowPins {
            pins: ExpiringMap::new(capacity, PIN_IDLE_NS),
            recent: RecentPairs::new(capacity),
            single_seen: None,
        }
    }

    /// The pair (index in the group) for this flow at this group of the chain.
    #[inline]
    pub fn select(&mut self, chain: &Chain, group: usize, flow: &FlowKey, now: u64) -> usize {
        let pairs = &chain.groups[group];
        let hash = if chain.symmetric {
            flow.symmetric_hash()
        } else {
            flow.hash()
        };
        // The flow at this group of this chain.
        let record = mix(hash ^ mix(u64::from(chain.chain_id) << 16 | group as u64));
        if let [only] = pairs.pairs.as_slice() {
            // A pair added later must not take this flow: recorded, not pinned.
            self.recent.record(record, only.key, now);
            self.single_seen = Some(now);
            return 0;
        }
        let flow = if chain.symmetric {
            canonical(flow)
        } else {
            *flow
        };
        let key = PinKey {
            chain_id: chain.chain_id,
            group: group as u16,
            flow,
        };
        // A flow of a group that had one pair until lately: its record is newer than
        // any pin it has (a pin is not refreshed while its group has one pair).
        if self
            .single_seen
            .is_some_and(|seen| now.saturating_sub(seen) <= PIN_IDLE_NS)
        {
            if let Some(pair) = self.recent.take(record, now, PIN_IDLE_NS) {
                if let Some(index) = pairs.pairs.iter().position(|p| p.key == pair) {
                    self.pins.insert(key, pair, now);
                    return index;
                }
            }
        }
        if let Some(&mut pinned) = self.pins.get(&key, now) {
            if let Some(index) = pairs.pairs.iter().position(|p| p.key == pinned) {
                return index;
            }
        }
        let index = rendezvous(pairs, hash);
        self.pins.insert(key, pairs.pairs[index].key, now);
        index
    }

    pub fn len(&self) -> usize {
        self.pins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }
}

/// The same key for both directions of a flow.
fn canonical(flow: &FlowKey) -> FlowKey {
    if (flow.src, flow.src_port) <= (flow.dst, flow.dst_port) {
        *flow
    } else {
        flow.reversed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Encap, Pair};
    use packet::MacAddr;
    use std::net::Ipv4Addr;

    fn pair(key: u64, weight: u32) -> Pair {
        Pair {
            key,
            ingress: key as u32,
            egress: key as u32 + 100,
            ingress_mac: MacAddr::ZERO,
            egress_mac: MacAddr::ZERO,
            encap: Encap::Mpls,
            weight,
        }
    }

    fn chain(pairs: Vec<Pair>, symmetric: bool) -> Chain {
        Chain {
            chain_id: 9,
            groups: vec![Group { pairs }],
            symmetric,
            mpls_ttl: crate::mpls::TTL,
        }
    }

    fn flow(i: u32) -> FlowKey {
        FlowKey::new_v4(
            Ipv4Addr::from(0x0a00_0000 + (i >> 12)),
            Ipv4Addr::new(10, 0, 1, 9),
            6,
            1024 + (i & 0xfff) as u16,
            80,
        )
    }

    #[test]
    fn weights_share_the_flows() {
        let c = chain(vec![pair(1, 1), pair(2, 3)], false);
        let mut pins = FlowPins::new(1 << 14);
        let n = 8000;
        let on_second = (0..n)
            .filter(|&i| pins.select(&c, 0, &flow(i), 0) == 1)
            .count();
        let share = on_second as f64 / f64::from(n);
        assert!((share - 0.75).abs() < 0.03, "share {share}");
    }

    #[test]
    fn symmetric_flows_reach_the_same_pair_both_ways() {
        let c = chain(vec![pair(1, 1), pair(2, 1), pair(3, 2)], true);
        let mut forward = FlowPins::new(1024);
        let mut reverse = FlowPins::new(1024);
        for i in 0..500 {
            let f = flow(i);
            assert_eq!(
                forward.select(&c, 0, &f, 0),
                reverse.select(&c, 0, &f.reversed(), 0),
                "no pin shared: the symmetric hash alone must agree"
            );
        }
    }

    #[test]
    fn a_pair_added_to_a_group_of_one_takes_only_new_flows() {
        let v1 = chain(vec![pair(1, 1)], false);
        let mut pins = FlowPins::new(1 << 12);
        for i in 0..500 {
            assert_eq!(pins.select(&v1, 0, &flow(i), 0), 0);
        }
        let v2 = chain(vec![pair(2, 3), pair(1, 1)], false);
        for i in 0..500 {
            assert_eq!(pins.select(&v2, 0, &flow(i), 1), 1, "flow {i} left pair 1");
        }
        let fresh = (1000..2000)
            .filter(|&i| pins.select(&v2, 0, &flow(i), 1) == 0)
            .count();
        assert!(fresh > 700, "new flows follow the new weights: {fresh}");
    }

    #[test]
    fn a_group_of_one_pins_nothing_and_its_flows_keep_their_pair_through_a_shrink_and_a_growth() {
        let v1 = chain(vec![pair(1, 1), pair(2, 1)], false);
        let mut pins = FlowPins::new(1 << 12);
        let on_two: Vec<u32> = (0..400)
            .filter(|&i| v1.groups[0].pairs[pins.select(&v1, 0, &flow(i), 0)].key == 2)
            .collect();
        assert!(on_two.len() > 100, "{}", on_two.len());
        let pinned = pins.len();
        // Pair 2 leaves: every flow goes to pair 1, and no pin is taken for that.
        let v2 = chain(vec![pair(1, 1)], false);
        for i in (0..400).chain(1000..1100) {
            assert_eq!(pins.select(&v2, 0, &flow(i), 1), 0);
        }
        assert_eq!(pins.len(), pinned, "a group of one pair pins no new flow");
        // Pair 2 is back: the flows that were on it moved to pair 1 and stay there,
        // though their old pins (not yet idle) name pair 2.
        let v3 = chain(vec![pair(2, 1), pair(1, 1)], false);
        for &i in &on_two {
            assert_eq!(pins.select(&v3, 0, &flow(i), 2), 1, "flow {i}");
            assert_eq!(pins.select(&v3, 0, &flow(i), 3), 1, "flow {i}, pinned now");
        }
    }

    #[test]
    fn pinned_flows_keep_a_pair_that_still_exists() {
        let v1 = chain(vec![pair(1, 1), pair(2, 1)], false);
        let mut pins = FlowPins::new(1 << 12);
        let before: Vec<u64> = (0..1000)
            .map(|i| v1.groups[0].pairs[pins.select(&v1, 0, &flow(i), 0)].key)
            .collect();
        // Version 2 adds a heavy pair and drops pair 2.
        let v2 = chain(vec![pair(3, 5), pair(1, 1)], false);
        let mut moved_to_new = 0;
        for (i, &old) in before.iter().enumerate() {
            let now = v2.groups[0].pairs[pins.select(&v2, 0, &flow(i as u32), 1)].key;
            if old == 1 {
                assert_eq!(now, 1, "flow {i} lost its pair, which still exists");
            } else {
                assert_ne!(now, 2);
                moved_to_new += usize::from(now == 3);
            }
        }
        assert!(
            moved_to_new > 300,
            "the new pair takes most displaced flows"
        );
        // New flows see the new weights.
        let fresh = (5000..6000)
            .filter(|&i| v2.groups[0].pairs[pins.select(&v2, 0, &flow(i), 1)].key == 3)
            .count();
        assert!(fresh > 780 && fresh < 880, "{fresh}");
    }
}
