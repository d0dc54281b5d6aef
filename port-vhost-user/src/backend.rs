//! The vhost-user messages of one frontend session, on the message thread: the
//! vhost crate parses and answers them, this keeps the device's state and publishes
//! each ring to the worker that polls it (see `vring`).

use std::fs::File;
use std::sync::Arc;

use vhost::vhost_user::message::{
    VhostTransferStateDirection, VhostTransferStatePhase, VhostUserConfigFlags, VhostUserInflight,
    VhostUserLog, VhostUserMemoryRegion, VhostUserProtocolFeatures, VhostUserShMemConfig,
    VhostUserSharedMsg, VhostUserSingleMemoryRegion, VhostUserVringAddrFlags, VhostUserVringState,
};
use vhost::vhost_user::{Error, GpuBackend, Result, VhostUserBackendReqHandlerMut};
use vhost::VhostUserMemoryRegionBase;
use vm_memory::GuestAddress;

use crate::device::Device;
use crate::memory::GuestMemory;
use crate::net::{config_space, feature, header_len, OFFERED_FEATURES};
use crate::vring::ActiveVring;

/// The protocol features offered (REPLY_ACK is added by the vhost crate; STATUS is
/// answered by the session ahead of it).
pub fn offered_protocol_features() -> VhostUserProtocolFeatures {
    VhostUserProtocolFeatures::MQ
        | VhostUserProtocolFeatures::REPLY_ACK
        | VhostUserProtocolFeatures::CONFIG
        | VhostUserProtocolFeatures::STATUS
}

/// One virtqueue as the frontend has set it up so far.
#[derive(Default)]
struct VringSetup {
    size: u16,
    /// Descriptor table, used ring, available ring: frontend virtual addresses.
    addresses: Option<(u64, u64, u64)>,
    base: u16,
    kicked: bool,
    enabled: bool,
    call: Option<Arc<File>>,
    /// Set when the ring's size, addresses or base change: the next publication is
    /// a new ring instance.
    fresh: bool,
    epoch: u64,
    running: bool,
}

pub struct Backend {
    device: Arc<Device>,
    features: u64,
    protocol_features: u64,
    memory: Option<Arc<GuestMemory>>,
    vrings: Vec<VringSetup>,
    pub status: u8,
}

impl Backend {
    pub fn new(device: Arc<Device>) -> Self {
        let vrings = (0..device.slots.len())
            .map(|_| VringSetup::default())
            .collect();
        Backend {
            device,
            features: 0,
            protocol_features: 0,
            memory: None,
            vrings,
            status: 0,
        }
    }

    fn setup(&mut self, index: u32) -> Result<&mut VringSetup> {
        self.vrings
            .get_mut(index as usize)
            .ok_or(Error::InvalidParam)
    }

    /// Publishes ring `index` as it now stands and waits (bounded) until its worker
    /// follows.
    fn publish(&mut self, index: usize) {
        let ring = self.describe(index);
        let setup = &mut self.vrings[index];
        if ring.is_none() && !setup.running {
            // Stopped before and still stopped: nothing for the worker to follow.
            return;
        }
        setup.running = ring.is_some();
        let slot = &self.device.slots[index];
        let generation = slot.publish(ring.map(Arc::new));
        if !slot.wait_acked(generation, self.device.ack_timeout) {
            tracing::debug!(port = %self.device.name, vring = index, "no worker took up the ring change in time");
        }
    }

    /// The ring to publish, when it is started: memory, size, addresses, a kick
    /// (the frontend's start signal) and enabled.
    fn describe(&mut self, index: usize) -> Option<ActiveVring> {
        let memory = self.memory.clone()?;
        let protocol = self.features & feature::PROTOCOL_FEATURES != 0;
        let features = self.features;
        let setup = &mut self.vrings[index];
        let (desc, used, avail) = setup.addresses?;
        if setup.size == 0 || !setup.kicked || (protocol && !setup.enabled) {
            return None;
        }
        if setup.fresh || setup.epoch == 0 {
            setup.epoch = self.device.next_epoch();
            setup.fresh = false;
        }
        // An address no region holds is published as one the worker refuses (it
        // counts the fault): the ring is the guest's mistake.
        let translate = |va: u64| memory.translate(va).unwrap_or(GuestAddress(u64::MAX));
        Some(ActiveVring {
            desc: translate(desc),
            avail: translate(avail),
            used: translate(used),
            size: setup.size,
            base: setup.base,
            event_idx: features & feature::RING_EVENT_IDX != 0,
            mrg_rxbuf: features & feature::NET_MRG_RXBUF != 0,
            header_len: header_len(features),
            call: setup.call.clone(),
            epoch: setup.epoch,
            memory,
        })
    }

    /// Publishes again every ring that runs (new memory, features or call fd).
    fn republish_running(&mut self) {
        for index in 0..self.vrings.len() {
            if self.vrings[index].running {
                self.publish(index);
            }
        }
    }

    /// Stops every ring and forgets the session's state: the frontend left or reset.
    pub fn reset(&mut self) {
        for index in 0..self.vrings.len() {
            let running = self.vrings[index].running;
            self.vrings[index] = VringSetup {
                running,
                ..VringSetup::default()
            };
            self.publish(index);
        }
        self.memory = None;
        self.features = 0;
        self.protocol_features = 0;
        self.status = 0;
    }
}

impl VhostUserBackendReqHandlerMut for Backend {
    fn set_owner(&mut self) -> Result<()> {
        Ok(())
    }

    fn reset_owner(&mut self) -> Result<()> {
        self.reset();
        Ok(())
    }

    fn reset_device(&mut self) -> Result<()> {
        self.reset();
        Ok(())
    }

    fn get_features(&mut self) -> Result<u64> {
        Ok(OFFERED_FEATURES)
    }

    fn set_features(&mut self, features: u64) -> Result<()> {
        if features & !OFFERED_FEATURES != 0 {
            return Err(Error::InvalidParam);
        }
        self.features = features;
        self.republish_running();
        Ok(())
    }

    fn set_mem_table(
        &mut self,
        regions: &[VhostUserMemoryRegion],
        files: Vec<File>,
        _postcopy_listening: Option<bool>,
    ) -> Result<Option<Vec<VhostUserMemoryRegionBase>>> {
        let memory = GuestMemory::map(regions, files).map_err(Error::ReqHandlerError)?;
        // The old table stays mapped until every worker follows the new one; it is
        // unmapped here, when the last reference goes.
        let old = self.memory.replace(Arc::new(memory));
        self.republish_running();
        drop(old);
        Ok(None)
    }

    fn set_vring_num(&mut self, index: u32, num: u32) -> Result<()> {
        if num == 0 || num > 32768 || !num.is_power_of_two() {
            return Err(Error::InvalidParam);
        }
        let setup = self.setup(index)?;
        setup.size = num as u16;
        setup.fresh = true;
        Ok(())
    }

    fn set_vring_addr(
        &mut self,
        index: u32,
        _flags: VhostUserVringAddrFlags,
        descriptor: u64,
        used: u64,
        available: u64,
        _log: u64,
    ) -> Result<()> {
        let setup = self.setup(index)?;
        setup.addresses = Some((descriptor, used, available));
        setup.fresh = true;
        if setup.running {
            self.publish(index as usize);
        }
        Ok(())
    }

    fn set_vring_base(&mut self, index: u32, base: u32) -> Result<()> {
        let setup = self.setup(index)?;
        setup.base = base as u16;
        setup.fresh = true;
        Ok(())
    }

    fn get_vring_base(&mut self, index: u32) -> Result<VhostUserVringState> {
        let setup = self.setup(index)?;
        // The ring stops: its worker lets go and leaves its position behind.
        setup.kicked = false;
        setup.fresh = true;
        self.publish(index as usize);
        let next_avail = self.device.slots[index as usize].next_avail();
        self.vrings[index as usize].base = next_avail;
        Ok(VhostUserVringState::new(index, u32::from(next_avail)))
    }

    fn set_vring_kick(&mut self, index: u8, _fd: Option<File>) -> Result<()> {
        // The workers poll: kicks are not waited for, the fd only starts the ring.
        self.setup(u32::from(index))?.kicked = true;
        if self.features & feature::PROTOCOL_FEATURES == 0 {
            self.vrings[usize::from(index)].enabled = true;
        }
        self.publish(usize::from(index));
        Ok(())
    }

    fn set_vring_call(&mut self, index: u8, fd: Option<File>) -> Result<()> {
        let setup = self.setup(u32::from(index))?;
        setup.call = fd.map(Arc::new);
        if setup.running {
            self.publish(usize::from(index));
        }
        Ok(())
    }

    fn set_vring_err(&mut self, index: u8, _fd: Option<File>) -> Result<()> {
        self.setup(u32::from(index))?;
        Ok(())
    }

    fn get_protocol_features(&mut self) -> Result<VhostUserProtocolFeatures> {
        Ok(offered_protocol_features())
    }

    fn set_protocol_features(&mut self, features: u64) -> Result<()> {
        self.protocol_features = features;
        Ok(())
    }

    fn get_queue_num(&mut self) -> Result<u64> {
        Ok(u64::from(self.device.queue_pairs))
    }

    fn set_vring_enable(&mut self, index: u32, enable: bool) -> Result<()> {
        self.setup(index)?.enabled = enable;
        self.publish(index as usize);
        Ok(())
    }

    fn get_config(
        &mut self,
        offset: u32,
        size: u32,
        _flags: VhostUserConfigFlags,
    ) -> Result<Vec<u8>> {
        let space = config_space(self.device.queue_pairs, self.device.mtu);
        let (offset, size) = (offset as usize, size as usize);
        let mut out = vec![0u8; size];
        if offset < space.len() {
            let end = space.len().min(offset + size);
            out[..end - offset].copy_from_slice(&space[offset..end]);
        }
        Ok(out)
    }

    fn set_config(
        &mut self,
        _offset: u32,
        _buf: &[u8],
        _flags: VhostUserConfigFlags,
    ) -> Result<()> {
        // Nothing in the configuration is writable by the driver.
        Ok(())
    }

    fn set_gpu_socket(&mut self, _gpu_backend: GpuBackend) -> Result<()> {
        Err(Error::InvalidOperation("not a GPU device"))
    }

    fn get_shared_object(&mut self, _uuid: VhostUserSharedMsg) -> Result<File> {
        Err(Error::InvalidOperation("shared objects are not offered"))
    }

    fn get_inflight_fd(
        &mut self,
        _inflight: &VhostUserInflight,
    ) -> Result<(VhostUserInflight, File)> {
        Err(Error::InvalidOperation("inflight tracking is not offered"))
    }

    fn set_inflight_fd(&mut self, _inflight: &VhostUserInflight, _file: File) -> Result<()> {
        Err(Error::InvalidOperation("inflight tracking is not offered"))
    }

    fn get_max_mem_slots(&mut self) -> Result<u64> {
        Err(Error::InvalidOperation("memory slots are not offered"))
    }

    fn add_mem_region(
        &mut self,
        _region: &VhostUserSingleMemoryRegion,
        _fd: File,
        _postcopy_listening: Option<bool>,
    ) -> Result<Option<VhostUserMemoryRegionBase>> {
        Err(Error::InvalidOperation("memory slots are not offered"))
    }

    fn remove_mem_region(&mut self, _region: &VhostUserSingleMemoryRegion) -> Result<()> {
        Err(Error::InvalidOperation("memory slots are not offered"))
    }

    fn set_device_state_fd(
        &mut self,
        _direction: VhostTransferStateDirection,
        _phase: VhostTransferStatePhase,
        _fd: File,
    ) -> Result<Option<File>> {
        Err(Error::InvalidOperation(
            "device state transfer is not offered",
        ))
    }

    fn check_device_state(&mut self) -> Result<()> {
        Err(Error::InvalidOperation(
            "device state transfer is not offered",
        ))
    }

    fn get_shmem_config(&mut self) -> Result<VhostUserShMemConfig> {
        Err(Error::InvalidOperation(
            "shared memory regions are not offered",
        ))
    }

    fn set_log_base(&mut self, _log: &VhostUserLog, _file: File) -> Result<()> {
        Err(Error::InvalidOperation("dirty logging is not offered"))
    }
}
