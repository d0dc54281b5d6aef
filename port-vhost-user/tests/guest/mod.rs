//! A guest driven by the test: the vhost crate's frontend speaks the protocol, the
//! guest's memory is a file both sides map, and the test writes the rings itself,
//! as well-behaved or as hostile as it likes.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use vhost::vhost_user::message::{VhostUserHeaderFlag, VhostUserProtocolFeatures};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vm_memory::{
    Address, Bytes, FileOffset, GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

pub const MEM_SIZE: u64 = 1 << 20;
/// The frontend's own address of guest physical address 0 (ring addresses are given
/// in it, as QEMU gives its own).
pub const USER_BASE: u64 = 0x7f00_0000_0000;
pub const QSIZE: u16 = 64;
/// Where buffers start in guest memory.
pub const BUFFERS: u64 = 0x10000;

pub const F_NEXT: u16 = 1;
pub const F_WRITE: u16 = 2;
pub const F_INDIRECT: u16 = 4;

pub const VERSION_1: u64 = 1 << 32;
pub const MRG_RXBUF: u64 = 1 << 15;
pub const INDIRECT_DESC: u64 = 1 << 28;
pub const EVENT_IDX: u64 = 1 << 29;
pub const PROTOCOL_FEATURES: u64 = 1 << 30;

/// Descriptor table, available ring, used ring of virtqueue `index`.
pub fn layout(index: usize) -> (u64, u64, u64) {
    let base = 0x1000 + index as u64 * 0x2000;
    (base, base + 0x400, base + 0x800)
}

pub struct Guest {
    pub frontend: Frontend,
    pub mem: GuestMemoryMmap,
    pub file: File,
    pub calls: Vec<EventFd>,
    kicks: Vec<EventFd>,
    avail_idx: [u16; 2],
}

fn map(file: &File) -> GuestMemoryMmap {
    let region = MmapRegion::from_file(
        FileOffset::new(file.try_clone().unwrap(), 0),
        MEM_SIZE as usize,
    )
    .unwrap();
    GuestMemoryMmap::from_regions(vec![GuestRegionMmap::new(region, GuestAddress(0)).unwrap()])
        .unwrap()
}

impl Guest {
    /// Connects and sets both virtqueues of pair 0 up with `features` negotiated.
    pub fn connect(socket: &Path, features: u64) -> Guest {
        let file = tempfile::tempfile().unwrap();
        file.set_len(MEM_SIZE).unwrap();
        let mem = map(&file);
        let mut frontend = connect_retrying(socket);
        frontend.set_owner().unwrap();
        let offered = frontend.get_features().unwrap();
        assert_eq!(
            offered & features,
            features,
            "features offered: {offered:#x}"
        );
        frontend.set_features(features | PROTOCOL_FEATURES).unwrap();
        let protocol = frontend.get_protocol_features().unwrap();
        assert!(protocol.contains(VhostUserProtocolFeatures::REPLY_ACK));
        frontend
            .set_protocol_features(
                VhostUserProtocolFeatures::REPLY_ACK | VhostUserProtocolFeatures::MQ,
            )
            .unwrap();
        // Every message waits for its answer: the port's state is set when it returns.
        frontend.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
        let mut guest = Guest {
            frontend,
            mem,
            file,
            calls: Vec::new(),
            kicks: Vec::new(),
            avail_idx: [0; 2],
        };
        guest.set_mem_table();
        for index in 0..2 {
            let (desc, avail, used) = layout(index);
            guest.setup_vring(index, USER_BASE + desc, USER_BASE + avail, USER_BASE + used);
        }
        guest
    }

    pub fn set_mem_table(&mut self) {
        let region = VhostUserMemoryRegionInfo {
            guest_phys_addr: 0,
            memory_size: MEM_SIZE,
            userspace_addr: USER_BASE,
            mmap_offset: 0,
            mmap_handle: self.file.as_raw_fd(),
        };
        self.frontend.set_mem_table(&[region]).unwrap();
    }

    /// Moves the guest's memory to a new file (its content copied): the port must
    /// follow to the new mapping without losing its place in the rings.
    pub fn move_memory(&mut self) {
        let file = tempfile::tempfile().unwrap();
        file.set_len(MEM_SIZE).unwrap();
        let mem = map(&file);
        let mut content = vec![0u8; MEM_SIZE as usize];
        self.mem.read_slice(&mut content, GuestAddress(0)).unwrap();
        mem.write_slice(&content, GuestAddress(0)).unwrap();
        // The old file is scribbled over: a port still reading it would see garbage.
        self.mem
            .write_slice(&vec![0xee; MEM_SIZE as usize], GuestAddress(0))
            .unwrap();
        self.file = file;
        self.mem = mem;
        self.set_mem_table();
    }

    pub fn setup_vring(&mut self, index: usize, desc: u64, avail: u64, used: u64) {
        let frontend = &mut self.frontend;
        frontend.set_vring_num(index, QSIZE).unwrap();
        let config = VringConfigData {
            queue_max_size: QSIZE,
            queue_size: QSIZE,
            flags: 0,
            desc_table_addr: desc,
            used_ring_addr: used,
            avail_ring_addr: avail,
            log_addr: None,
        };
        frontend.set_vring_addr(index, &config).unwrap();
        frontend.set_vring_base(index, 0).unwrap();
        let call = EventFd::new(EFD_NONBLOCK).unwrap();
        let kick = EventFd::new(EFD_NONBLOCK).unwrap();
        frontend.set_vring_call(index, &call).unwrap();
        frontend.set_vring_kick(index, &kick).unwrap();
        frontend.set_vring_enable(index, true).unwrap();
        if self.calls.len() > index {
            self.calls[index] = call;
            self.kicks[index] = kick;
        } else {
            self.calls.push(call);
            self.kicks.push(kick);
        }
    }

    pub fn write_desc(&self, index: usize, desc: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let table = layout(index).0 + u64::from(desc) * 16;
        self.write_desc_at(table, addr, len, flags, next);
    }

    pub fn write_desc_at(&self, at: u64, addr: u64, len: u32, flags: u16, next: u16) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&addr.to_le_bytes());
        raw[8..12].copy_from_slice(&len.to_le_bytes());
        raw[12..14].copy_from_slice(&flags.to_le_bytes());
        raw[14..16].copy_from_slice(&next.to_le_bytes());
        self.mem.write_slice(&raw, GuestAddress(at)).unwrap();
    }

    /// Makes chain `head` available on virtqueue `index`.
    pub fn offer(&mut self, index: usize, head: u16) {
        let avail = layout(index).1;
        let slot = u64::from(self.avail_idx[index] % QSIZE);
        self.mem
            .write_obj(head.to_le(), GuestAddress(avail + 4 + 2 * slot))
            .unwrap();
        self.avail_idx[index] = self.avail_idx[index].wrapping_add(1);
        self.set_avail_idx(index, self.avail_idx[index]);
    }

    pub fn set_avail_idx(&self, index: usize, idx: u16) {
        let avail = layout(index).1;
        self.mem
            .write_obj(idx.to_le(), GuestAddress(avail + 2))
            .unwrap();
    }

    pub fn set_avail_flags(&self, index: usize, flags: u16) {
        self.mem
            .write_obj(flags.to_le(), GuestAddress(layout(index).1))
            .unwrap();
    }

    /// EVENT_IDX: interrupt me when the used index passes `event`.
    pub fn set_used_event(&self, index: usize, event: u16) {
        let at = layout(index).1 + 4 + 2 * u64::from(QSIZE);
        self.mem.write_obj(event.to_le(), GuestAddress(at)).unwrap();
    }

    /// The used ring: its index and the entries (id, len) so far.
    pub fn used(&self, index: usize) -> (u16, Vec<(u32, u32)>) {
        let used = layout(index).2;
        let idx: u16 = self.mem.read_obj(GuestAddress(used + 2)).unwrap();
        let entries = (0..idx.min(QSIZE))
            .map(|i| {
                let at = GuestAddress(used + 4 + 8 * u64::from(i));
                let id: u32 = self.mem.read_obj(at).unwrap();
                let len: u32 = self.mem.read_obj(at.unchecked_add(4)).unwrap();
                (id, len)
            })
            .collect();
        (idx, entries)
    }

    /// Whether the port interrupted virtqueue `index` since the last look.
    pub fn interrupted(&self, index: usize) -> bool {
        self.calls[index].read().is_ok()
    }

    pub fn write(&self, addr: u64, bytes: &[u8]) {
        self.mem.write_slice(bytes, GuestAddress(addr)).unwrap();
    }

    pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.mem.read_slice(&mut out, GuestAddress(addr)).unwrap();
        out
    }

    /// Sends `frame` on the guest's transmit queue (virtqueue 1) as descriptor
    /// `desc`: a 12-byte header then the frame, in one buffer at `addr`.
    pub fn send(&mut self, desc: u16, addr: u64, frame: &[u8]) {
        let mut bytes = vec![0u8; 12];
        bytes.extend_from_slice(frame);
        self.write(addr, &bytes);
        self.write_desc(1, desc, addr, bytes.len() as u32, 0, 0);
        self.offer(1, desc);
    }
}

fn connect_retrying(socket: &Path) -> Frontend {
    for _ in 0..100 {
        if let Ok(frontend) = Frontend::connect(socket, 2) {
            return frontend;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("cannot connect to {}", socket.display());
}
