/* What the bindings cover: the headers bindgen reads, and the shim's exported
 * versions of DPDK's static-inline functions and function-like macros. */
#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

uint16_t dp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n);
uint16_t dp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n);
int dp_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned n);
void dp_pktmbuf_free(struct rte_mbuf *m);
char *dp_pktmbuf_mtod(struct rte_mbuf *m);
char *dp_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *dp_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
uint16_t dp_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t dp_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t dp_pktmbuf_priv_size(struct rte_mempool *pool);
uint16_t dp_pktmbuf_data_room_size(struct rte_mempool *pool);
uint64_t dp_rdtsc(void);
unsigned dp_lcore_id(void);
int dp_errno(void);

/* Flag and mask macros written with RTE_BIT64, which bindgen cannot evaluate. */
uint64_t dp_rss_hf_ip_tcp_udp(void);
uint64_t dp_rx_offload_rss_hash(void);
uint64_t dp_rx_offload_ipv4_cksum(void);
uint64_t dp_tx_offload_mbuf_fast_free(void);
uint64_t dp_mbuf_f_rx_rss_hash(void);
uint64_t dp_mbuf_f_rx_ip_cksum_mask(void);
uint64_t dp_mbuf_f_rx_ip_cksum_good(void);
uint32_t dp_link_speed_unknown(void);
