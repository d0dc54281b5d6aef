//! The pcap port: receives from a capture file (classic pcap or pcapng) and transmits
//! into a classic pcap file, keeping every packet's timestamp.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use byteorder_slice::BigEndian;
use packet::{AllocError, Burst, Pool};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::capture_link::CaptureLink;
use super::Port;
use crate::counters::{Counters, DropReason};

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SNAPLEN: u32 = 65535;

/// A frame read from a capture, waiting to be received.
struct PendingFrame {
    timestamp_ns: u64,
    data: Vec<u8>,
}

/// A frame as the capture holds it: its bytes in the capture's link type, and the
/// length it had on the wire (more than the bytes when the snap length cut it).
struct CapturedFrame {
    timestamp_ns: u64,
    data: Vec<u8>,
    wire_len: u32,
    link: CaptureLink,
}

/// Frames of a capture that are not replayed as they were on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureNotes {
    /// Cut by the capture's snap length: replayed as the truncated frames they are.
    pub truncated: u64,
    /// No Ethernet frame can be made of them (a cooked header cut short, a protocol
    /// that is no Ethernet type, raw bytes that are not IP): skipped.
    pub unmapped: u64,
}

enum Reader {
    Classic(PcapReader<BufReader<File>>, CaptureLink, TsResolution),
    Ng(PcapNgReader<BufReader<File>>),
}

/// A capture file read frame by frame, one frame ahead so that inputs can be merged
/// by timestamp.
pub struct PcapInput {
    path: PathBuf,
    reader: Reader,
    pending: Option<PendingFrame>,
    /// Timestamp of the last frame, for pcapng simple packets which carry none.
    last_timestamp_ns: u64,
    nanosecond: bool,
    notes: CaptureNotes,
}

fn io_error(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

impl PcapInput {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut file = BufReader::new(file);
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic)
            .map_err(|_| io_error(path, "not a capture file (too short)"))?;
        let file = BufReader::new(File::open(path)?);
        let (reader, nanosecond) = if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(file).map_err(|e| io_error(path, e))?;
            (Reader::Ng(reader), false)
        } else {
            let reader = PcapReader::new(file).map_err(|e| io_error(path, e))?;
            let header = reader.header();
            let link =
                CaptureLink::from_datalink(header.datalink).map_err(|e| io_error(path, e))?;
            let resolution = header.ts_resolution;
            let nanosecond = resolution == TsResolution::NanoSecond;
            (Reader::Classic(reader, link, resolution), nanosecond)
        };
        let mut input = PcapInput {
            path: path.to_owned(),
            reader,
            pending: None,
            last_timestamp_ns: 0,
            nanosecond,
            notes: CaptureNotes::default(),
        };
        input.advance()?;
        Ok(input)
    }

    /// True when the capture has sub-microsecond timestamps (outputs keep them).
    pub fn nanosecond(&self) -> bool {
        self.nanosecond
    }

    /// The frames read so far that were cut short or skipped.
    pub fn notes(&self) -> CaptureNotes {
        self.notes
    }

    /// The timestamp of the next frame, `None` at the end of the capture.
    pub fn next_timestamp(&self) -> Option<u64> {
        self.pending.as_ref().map(|frame| frame.timestamp_ns)
    }

    fn take(&mut self) -> io::Result<Option<PendingFrame>> {
        let frame = self.pending.take();
        if frame.is_some() {
            self.advance()?;
        }
        Ok(frame)
    }

    /// Reads the next frame that can be replayed into `pending`, as Ethernet.
    fn advance(&mut self) -> io::Result<()> {
        self.pending = loop {
            let captured = match &mut self.reader {
                Reader::Classic(reader, link, resolution) => {
                    next_classic_frame(reader, *link, *resolution, &self.path)?
                }
                Reader::Ng(reader) => next_ng_frame(
                    reader,
                    &self.path,
                    &mut self.nanosecond,
                    self.last_timestamp_ns,
                )?,
            };
            let Some(captured) = captured else {
                break None;
            };
            self.last_timestamp_ns = captured.timestamp_ns;
            if (captured.data.len() as u64) < u64::from(captured.wire_len) {
                self.notes.truncated += 1;
            }
            match captured.link.to_ethernet(captured.data) {
                Some(data) => {
                    break Some(PendingFrame {
                        timestamp_ns: captured.timestamp_ns,
                        data,
                    })
                }
                None => self.notes.unmapped += 1,
            }
        };
        Ok(())
    }
}

/// The next record of a classic pcap. Read raw: pcap-file refuses a record whose wire
/// length exceeds the snap length, which is what a snap length makes.
fn next_classic_frame(
    reader: &mut PcapReader<BufReader<File>>,
    link: CaptureLink,
    resolution: TsResolution,
    path: &Path,
) -> io::Result<Option<CapturedFrame>> {
    let raw = match reader.next_raw_packet() {
        None => return Ok(None),
        Some(Err(e)) => return Err(io_error(path, e)),
        Some(Ok(raw)) => raw,
    };
    let fraction_ns = match resolution {
        TsResolution::MicroSecond => u64::from(raw.ts_frac) * 1_000,
        TsResolution::NanoSecond => u64::from(raw.ts_frac),
    };
    Ok(Some(CapturedFrame {
        timestamp_ns: u64::from(raw.ts_sec) * 1_000_000_000 + fraction_ns,
        wire_len: raw.orig_len,
        data: raw.data.into_owned(),
        link,
    }))
}

/// The next packet block of a pcapng capture, with its timestamp converted from the
/// interface's resolution (pcap-file reports raw ticks as nanoseconds).
fn next_ng_frame(
    reader: &mut PcapNgReader<BufReader<File>>,
    path: &Path,
    nanosecond: &mut bool,
    last_timestamp_ns: u64,
) -> io::Result<Option<CapturedFrame>> {
    loop {
        let block = match reader.next_block() {
            None => return Ok(None),
            Some(Err(e)) => return Err(io_error(path, e)),
            // Owned, so that the reader can be asked about the packet's interface.
            Some(Ok(block)) => block.into_owned(),
        };
        match block {
            Block::EnhancedPacket(packet) => {
                let interface = reader
                    .packet_interface(&packet)
                    .ok_or_else(|| io_error(path, "packet names an undeclared interface"))?;
                let link = CaptureLink::from_datalink(interface.linktype)
                    .map_err(|e| io_error(path, e))?;
                let resolution = interface
                    .options
                    .iter()
                    .find_map(|option| match option {
                        InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                        _ => None,
                    })
                    .unwrap_or(6);
                *nanosecond |= resolution != 6;
                let ticks = packet.timestamp.as_nanos();
                return Ok(Some(CapturedFrame {
                    timestamp_ns: ticks_to_ns(ticks, resolution),
                    wire_len: packet.original_len,
                    data: packet.data.into_owned(),
                    link,
                }));
            }
            Block::SimplePacket(packet) => {
                // A simple packet belongs to the first interface.
                let link = reader
                    .interfaces()
                    .first()
                    .map(|interface| CaptureLink::from_datalink(interface.linktype))
                    .ok_or_else(|| io_error(path, "packet before any interface"))?
                    .map_err(|e| io_error(path, e))?;
                // Its data is padded to 32 bits; the original length ends the frame
                // (a simple packet block records no snap length, so it never cuts).
                let mut data = packet.data.into_owned();
                data.truncate(packet.original_len as usize);
                return Ok(Some(CapturedFrame {
                    timestamp_ns: last_timestamp_ns,
                    wire_len: data.len() as u32,
                    data,
                    link,
                }));
            }
            _ => continue,
        }
    }
}

/// pcapng if_tsresol: high bit clear, 10^-n seconds per tick; set, 2^-n.
fn ticks_to_ns(ticks: u128, resolution: u8) -> u64 {
    let exponent = u32::from(resolution & 0x7f);
    let ns = if resolution & 0x80 == 0 {
        if exponent <= 9 {
            ticks.saturating_mul(10u128.pow(9 - exponent))
        } else {
            ticks / 10u128.saturating_pow(exponent - 9)
        }
    } else {
        ticks.saturating_mul(1_000_000_000) >> exponent.min(127)
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// A pcap file written on the first transmitted packet, so that ports which send
/// nothing leave no file.
struct PcapOutput {
    path: PathBuf,
    resolution: TsResolution,
    file: Option<BufWriter<File>>,
}

impl PcapOutput {
    fn new(path: PathBuf, nanosecond: bool) -> Self {
        let resolution = if nanosecond {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        };
        PcapOutput {
            path,
            resolution,
            file: None,
        }
    }

    fn file(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let file = File::create(&self.path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
            let mut file = BufWriter::new(file);
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                snaplen: SNAPLEN,
                ts_resolution: self.resolution,
                endianness: Endianness::Big,
                ..PcapHeader::default()
            };
            header
                .write_to(&mut file)
                .map_err(|e| io_error(&self.path, e))?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("file created above"))
    }

    fn write(&mut self, timestamp_ns: u64, frame: &[u8]) -> io::Result<()> {
        let record = PcapPacket::new(
            Duration::from_nanos(timestamp_ns),
            frame.len() as u32,
            frame,
        );
        let resolution = self.resolution;
        let file = self.file()?;
        match record.write_to::<_, BigEndian>(file, resolution, SNAPLEN) {
            Ok(_) => Ok(()),
            Err(e) => Err(io_error(&self.path, e)),
        }
    }
}

/// A port backed by capture files: frames in from `input`, frames out to `output`.
pub struct PcapPort {
    id: u16,
    name: String,
    input: Option<PcapInput>,
    output: Option<PcapOutput>,
}

impl PcapPort {
    /// `id` is the port's index in the topology; `output` is where transmitted frames
    /// go (no file is created until the first one).
    pub fn new(
        id: u16,
        name: &str,
        input: Option<PcapInput>,
        output: Option<(PathBuf, bool)>,
    ) -> Self {
        PcapPort {
            id,
            name: name.to_owned(),
            input,
            output: output.map(|(path, nanosecond)| PcapOutput::new(path, nanosecond)),
        }
    }

    /// The timestamp of the next frame this port will receive.
    pub fn next_timestamp(&self) -> Option<u64> {
        self.input.as_ref().and_then(PcapInput::next_timestamp)
    }

    /// The input's frames that were cut short or skipped so far.
    pub fn capture_notes(&self) -> CaptureNotes {
        self.input
            .as_ref()
            .map(PcapInput::notes)
            .unwrap_or_default()
    }

    /// True once the port has written an output file.
    pub fn has_output(&self) -> bool {
        self.output.as_ref().is_some_and(|o| o.file.is_some())
    }
}

impl Port for PcapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(
        &mut self,
        pool: &mut Pool,
        burst: &mut Burst,
        max: usize,
        counters: &mut Counters,
    ) -> io::Result<usize> {
        let Some(input) = &mut self.input else {
            return Ok(0);
        };
        let mut received = 0;
        while received < max && !burst.is_full() {
            let Some(frame) = input.take()? else {
                break;
            };
            counters.rx(usize::from(self.id));
            match pool.alloc_copy(&frame.data) {
                Ok(mut packet) => {
                    packet.rx_port = self.id;
                    packet.timestamp_ns = frame.timestamp_ns;
                    if let Err(packet) = burst.push(packet) {
                        pool.free(packet);
                    }
                    received += 1;
                }
                Err(AllocError::TooLarge { .. }) => counters.drop(DropReason::Oversize),
                Err(AllocError::Exhausted) => counters.drop(DropReason::NoBuffer),
            }
        }
        Ok(received)
    }

    fn tx_burst(
        &mut self,
        burst: &mut Burst,
        pool: &mut Pool,
        counters: &mut Counters,
    ) -> io::Result<usize> {
        let sent = burst.len();
        let mut result = Ok(sent);
        for packet in burst.drain() {
            if let (Ok(_), Some(output)) = (&result, &mut self.output) {
                if let Err(e) = output.write(packet.timestamp_ns, packet.data()) {
                    result = Err(e);
                }
            }
            pool.free(packet);
        }
        counters.tx(usize::from(self.id), sent as u64);
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.output.as_mut().and_then(|o| o.file.as_mut()) {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions_convert_to_nanoseconds() {
        assert_eq!(ticks_to_ns(1_500_000, 6), 1_500_000_000);
        assert_eq!(ticks_to_ns(7, 9), 7);
        assert_eq!(ticks_to_ns(123_456_789_012, 12), 123_456_789);
        assert_eq!(ticks_to_ns(1 << 20, 0x80 | 20), 1_000_000_000);
    }
}
