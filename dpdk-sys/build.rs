//! Finds the system DPDK with pkg-config, generates bindings for the part of its API
//! the driver uses, and compiles the shim that exports its static-inline functions.
//! Both see the same flags pkg-config gives (`-include rte_config.h` first). Without
//! the `link` feature it does nothing.

#[cfg(feature = "link")]
use std::{env, path::PathBuf, process::Command};

fn main() {
    #[cfg(feature = "link")]
    generate();
}

#[cfg(feature = "link")]
fn generate() {
    let library = pkg_config::Config::new()
        .atleast_version("21.11")
        .probe("libdpdk")
        .expect("DPDK development files (libdpdk-dev) found by pkg-config");
    let cflags = cflags();

    println!("cargo:rerun-if-changed=shim/dpdk.h");
    println!("cargo:rerun-if-changed=shim/dpdk.c");
    let mut shim = cc::Build::new();
    shim.file("shim/dpdk.c").warnings(false);
    for flag in &cflags {
        shim.flag(flag);
    }
    for path in &library.include_paths {
        shim.include(path);
    }
    shim.compile("dpdk_shim");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindgen::Builder::default()
        .header("shim/dpdk.h")
        .clang_args(&cflags)
        .clang_args(
            library
                .include_paths
                .iter()
                .map(|path| format!("-I{}", path.display())),
        )
        .allowlist_function("dp_.*")
        .allowlist_function("rte_eal_init")
        .allowlist_function("rte_eal_cleanup")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_thread_register")
        .allowlist_function("rte_thread_unregister")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_eth_dev_get_port_by_name")
        .allowlist_function("rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_configure")
        .allowlist_function("rte_eth_dev_adjust_nb_rx_tx_desc")
        .allowlist_function("rte_eth_rx_queue_setup")
        .allowlist_function("rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_dev_start")
        .allowlist_function("rte_eth_dev_stop")
        .allowlist_function("rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_socket_id")
        .allowlist_function("rte_eth_dev_set_mtu")
        .allowlist_function("rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_link_get_nowait")
        .allowlist_function("rte_eth_stats_get")
        .allowlist_function("rte_eth_xstats_get")
        .allowlist_function("rte_eth_xstats_get_names")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_mempool_avail_count")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("LCORE_ID_ANY")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_ETH_XSTATS_NAME_SIZE")
        .allowlist_var("RTE_MEMPOOL_CACHE_MAX_SIZE")
        .allowlist_var("RTE_ETH_LINK_UP")
        // Packed or over-aligned structs bindgen cannot lay out faithfully, which the
        // driver never reads field by field.
        .opaque_type("rte_ether_addr")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_flow_.*")
        .opaque_type("rte_mempool_cache")
        .opaque_type("rte_mempool")
        .opaque_type("rte_eth_dev_portconf")
        .layout_tests(false)
        .derive_default(true)
        .generate_comments(false)
        .generate()
        .expect("bindings to DPDK")
        .write_to_file(out)
        .expect("bindings written");
}

#[cfg(feature = "link")]
/// The compiler flags DPDK asks for, as its pkg-config file gives them.
fn cflags() -> Vec<String> {
    let output = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config runs");
    assert!(
        output.status.success(),
        "pkg-config --cflags libdpdk failed"
    );
    let text = String::from_utf8(output.stdout).expect("pkg-config prints UTF-8");
    let mut flags = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word == "-include" {
            if let Some(file) = words.next() {
                flags.push("-include".to_owned());
                flags.push(file.to_owned());
            }
        } else if !word.starts_with("-I") {
            flags.push(word.to_owned());
        }
    }
    flags
}
