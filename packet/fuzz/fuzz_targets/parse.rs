//! Any bytes as a frame: the parser returns metadata or a classified error, never
//! panics, and every offset it reports lies inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use packet::{parse, Tunnel, L4};

fuzz_target!(|frame: &[u8]| {
    if let Ok(meta) = parse(frame) {
        let len = frame.len();
        for offset in [meta.l3_offset, meta.l3_end, meta.l4_offset, meta.payload_offset] {
            assert!(usize::from(offset) <= len);
        }
        if let Tunnel::Vxlan { inner_offset, .. } = meta.tunnel {
            assert!(usize::from(inner_offset) <= len);
        }
        if meta.l4 != L4::None {
            assert!(meta.l3_offset < meta.l4_offset && meta.l4_offset <= meta.payload_offset);
        }
    }
});
