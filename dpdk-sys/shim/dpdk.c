/* DPDK's fast path is static inline in its headers, so it has no symbol to link to:
 * these one-line wrappers give it one. Compiled with the flags pkg-config gives
 * (rte_config.h included first, as DPDK requires). */
#include "dpdk.h"

uint16_t dp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, mbufs, n);
}

uint16_t dp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, mbufs, n);
}

int dp_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(pool, mbufs, n);
}

void dp_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *dp_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, char *);
}

char *dp_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *dp_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

uint16_t dp_mbuf_refcnt_read(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m);
}

uint16_t dp_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

uint16_t dp_pktmbuf_priv_size(struct rte_mempool *pool)
{
	return rte_pktmbuf_priv_size(pool);
}

uint16_t dp_pktmbuf_data_room_size(struct rte_mempool *pool)
{
	return rte_pktmbuf_data_room_size(pool);
}

uint64_t dp_rdtsc(void)
{
	return rte_rdtsc();
}

unsigned dp_lcore_id(void)
{
	return rte_lcore_id();
}

int dp_errno(void)
{
	return rte_errno;
}

uint64_t dp_rss_hf_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

uint64_t dp_rx_offload_rss_hash(void)
{
	return RTE_ETH_RX_OFFLOAD_RSS_HASH;
}

uint64_t dp_rx_offload_ipv4_cksum(void)
{
	return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
}

uint64_t dp_tx_offload_mbuf_fast_free(void)
{
	return RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
}

uint64_t dp_mbuf_f_rx_rss_hash(void)
{
	return RTE_MBUF_F_RX_RSS_HASH;
}

uint64_t dp_mbuf_f_rx_ip_cksum_mask(void)
{
	return RTE_MBUF_F_RX_IP_CKSUM_MASK;
}

uint64_t dp_mbuf_f_rx_ip_cksum_good(void)
{
	return RTE_MBUF_F_RX_IP_CKSUM_GOOD;
}

uint32_t dp_link_speed_unknown(void)
{
	return RTE_ETH_SPEED_NUM_UNKNOWN;
}
