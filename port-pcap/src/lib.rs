//! The pcap port: receives from a capture file (classic pcap or pcapng) and transmits
//! into a classic pcap file, keeping every packet's timestamp.

// A packet travels by value; handing it back inside an `Err` (a full burst, a drop
// with its reason) is how ownership returns to the caller, so the error is large.
#![allow(clippy::result_large_err)]

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use byteorder_slice::BigEndian;
use crossbeam::utils::CachePadded;
use packet::{parse, Burst, Pool};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, TsResolution};

use port::{BasicPortInfo, Capabilities, PortQueues, PortStats, QueueStatsCell, RxQueue, TxQueue};

use capture_link::CaptureLink;

mod capture_link;

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SNAPLEN: u32 = 65535;

/// A capture that could not be read while receiving (as opposed to an output that
/// could not be written): wrapped in the `io::Error` the queue returns.
#[derive(Debug)]
pub struct ReadError(pub io::Error);

impl ReadError {
    fn wrap(error: io::Error) -> io::Error {
        io::Error::new(error.kind(), ReadError(error))
    }

    /// True when `error` came from reading a capture.
    pub fn is_read_error(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|inner| inner.is::<ReadError>())
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReadError {}

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

impl std::iter::Sum for CaptureNotes {
    fn sum<I: Iterator<Item = CaptureNotes>>(notes: I) -> CaptureNotes {
        notes.fold(CaptureNotes::default(), |total, n| CaptureNotes {
            truncated: total.truncated + n.truncated,
            unmapped: total.unmapped + n.unmapped,
        })
    }
}

/// A capture's notes as its reader counts them (one thread writes, only on such a
/// frame) and the replay reads them at the end.
#[derive(Debug, Default)]
pub struct CaptureNoteCounters {
    truncated: AtomicU64,
    unmapped: AtomicU64,
}

impl CaptureNoteCounters {
    pub fn get(&self) -> CaptureNotes {
        CaptureNotes {
            truncated: self.truncated.load(Ordering::Relaxed),
            unmapped: self.unmapped.load(Ordering::Relaxed),
        }
    }
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
    notes: Arc<CaptureNoteCounters>,
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
            notes: Arc::default(),
        };
        input.advance()?;
        Ok(input)
    }

    /// True when the capture has sub-microsecond timestamps (outputs keep them).
    pub fn nanosecond(&self) -> bool {
        self.nanosecond
    }

    /// Counts the frames read that were cut short or skipped.
    pub fn notes(&self) -> Arc<CaptureNoteCounters> {
        Arc::clone(&self.notes)
    }

    /// The length of the next frame, `None` at the end of the capture.
    pub fn next_len(&self) -> Option<usize> {
        self.pending.as_ref().map(|frame| frame.data.len())
    }

    /// The next frame's bytes, `None` at the end of the capture.
    pub fn next_frame(&self) -> Option<&[u8]> {
        self.pending.as_ref().map(|frame| frame.data.as_slice())
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
                self.notes.truncated.fetch_add(1, Ordering::Relaxed);
            }
            match captured.link.to_ethernet(captured.data) {
                Some(data) => {
                    break Some(PendingFrame {
                        timestamp_ns: captured.timestamp_ns,
                        data,
                    })
                }
                None => {
                    self.notes.unmapped.fetch_add(1, Ordering::Relaxed);
                }
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

/// A port backed by capture files: one receive queue reading `input`, one transmit
/// queue writing `output`.
pub struct PcapPort;

impl PcapPort {
    /// `id` is the port's index in the topology; `output` is where transmitted frames
    /// go (no file is created until the first one). `max_frame` is the largest frame
    /// a pool buffer holds: larger ones are counted as receive errors.
    pub fn open(
        id: u16,
        name: &str,
        input: Option<PcapInput>,
        output: Option<(PathBuf, bool)>,
    ) -> PortQueues {
        let info = Arc::new(BasicPortInfo {
            name: name.to_owned(),
            capabilities: Capabilities {
                rx_queues: 1,
                tx_queues: 1,
                max_frame: SNAPLEN,
                hashes_flows: false,
                rx_checksum: false,
            },
            stats: PortStats::new(1, 1),
        });
        let inputs = input.map(|input| vec![(id, input, info.stats.rx_cell(0))]);
        PortQueues {
            rx: vec![Box::new(PcapRxQueue::new(inputs.unwrap_or_default()))],
            tx: vec![Box::new(PcapTxQueue {
                output: output.map(|(path, nanosecond)| PcapOutput::new(path, nanosecond)),
                stats: info.stats.tx_cell(0),
            })],
            info,
        }
    }
}

impl PcapPort {
    /// A port that only transmits, into `output`; what it receives comes through
    /// [`PcapRxQueue`]s the caller builds, each writing one of its `rx_stats` cells.
    pub fn output_only(name: &str, output: (PathBuf, bool), rx_stats: usize) -> PortQueues {
        let info = Arc::new(BasicPortInfo {
            name: name.to_owned(),
            capabilities: Capabilities {
                rx_queues: 0,
                tx_queues: 1,
                max_frame: SNAPLEN,
                hashes_flows: false,
                rx_checksum: false,
            },
            stats: PortStats::new(rx_stats, 1),
        });
        PortQueues {
            rx: Vec::new(),
            tx: vec![Box::new(PcapTxQueue {
                output: Some(PcapOutput::new(output.0, output.1)),
                stats: info.stats.tx_cell(0),
            })],
            info,
        }
    }
}

/// Receives from one or more captures, merged by timestamp (ties: the input listed
/// first), each frame on its own port. A frame that finds no free buffer waits for
/// one: a file loses nothing.
pub struct PcapRxQueue {
    inputs: Vec<(u16, PcapInput, Arc<CachePadded<QueueStatsCell>>)>,
    /// Software RSS: this queue takes only the frames whose symmetric flow hash
    /// falls on `spread.0` of `spread.1` queues (each queue reads the captures whole).
    spread: (u64, u64),
}

impl PcapRxQueue {
    /// `inputs`: (port, capture, the receive statistics this queue writes for that
    /// port).
    pub fn new(inputs: Vec<(u16, PcapInput, Arc<CachePadded<QueueStatsCell>>)>) -> Self {
        PcapRxQueue {
            inputs,
            spread: (0, 1),
        }
    }

    /// Queue `queue` of `queues` over the same captures: both directions of a flow
    /// fall on the same queue; a frame that does not parse falls on queue 0.
    pub fn spread(mut self, queue: usize, queues: usize) -> Self {
        self.spread = (queue as u64, queues.max(1) as u64);
        self
    }

    fn is_mine(&self, frame: &[u8]) -> bool {
        let (queue, queues) = self.spread;
        if queues == 1 {
            return true;
        }
        let hash = parse(frame).map_or(0, |meta| meta.flow.symmetric_hash() % queues);
        hash == queue
    }

    /// The input whose next frame is the earliest.
    fn earliest(&self) -> Option<usize> {
        self.inputs
            .iter()
            .enumerate()
            .filter_map(|(index, (_, input, _))| input.next_timestamp().map(|ts| (ts, index)))
            .min()
            .map(|(_, index)| index)
    }
}

impl RxQueue for PcapRxQueue {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let mut received = 0;
        while received < max && !burst.is_full() {
            let Some(next) = self.earliest() else {
                break;
            };
            if !self.inputs[next]
                .1
                .next_frame()
                .is_some_and(|f| self.is_mine(f))
            {
                self.inputs[next].1.take().map_err(ReadError::wrap)?;
                continue;
            }
            let (port, input, stats) = &mut self.inputs[next];
            let Some(len) = input.next_len() else {
                break;
            };
            let mut packet = match pool.alloc() {
                Ok(packet) => packet,
                // Backpressure: the frame stays in the file until a buffer is free.
                Err(_) => break,
            };
            let Some(frame) = input.take().map_err(ReadError::wrap)? else {
                pool.free(packet);
                break;
            };
            match packet.push_back(len) {
                Some(room) => {
                    room.copy_from_slice(&frame.data);
                    packet.rx_port = *port;
                    packet.timestamp_ns = frame.timestamp_ns;
                    stats.passed(1, len as u64);
                    // Cannot be refused: the burst was not full.
                    let _ = burst.push(packet);
                    received += 1;
                }
                None => {
                    // Larger than a buffer: the driver's error, not the pipeline's.
                    stats.error(1);
                    pool.free(packet);
                }
            }
        }
        Ok(received)
    }

    fn finished(&self) -> bool {
        self.earliest().is_none()
    }
}

struct PcapTxQueue {
    output: Option<PcapOutput>,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl TxQueue for PcapTxQueue {
    fn tx_burst(&mut self, burst: &mut Burst, pool: &mut Pool) -> io::Result<usize> {
        let (mut sent, mut bytes) = (0, 0);
        let mut result = Ok(());
        for packet in burst.drain() {
            if let (Ok(()), Some(output)) = (&result, &mut self.output) {
                result = output.write(packet.timestamp_ns, packet.data());
            }
            if result.is_ok() {
                sent += 1;
                bytes += packet.len() as u64;
            } else {
                self.stats.error(1);
            }
            pool.free(packet);
        }
        self.stats.passed(sent, bytes);
        result.map(|()| sent as usize)
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
