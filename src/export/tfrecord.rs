//! TFRecord framing: each record is `u64 LE length`, `u32 LE masked_crc32c(length bytes)`,
//! the data, `u32 LE masked_crc32c(data)`. CRC32C (Castagnoli) comes from the `crc32c` crate
//! (hardware-accelerated where the CPU has it).

use std::io::{self, Read, Write};

/// The constant TensorFlow adds to a rotated CRC (`kMaskDelta`).
const MASK_DELTA: u32 = 0xA282_EAD8;

/// TensorFlow's CRC mask: rotate right by 15 bits and add a constant, so that a CRC over
/// data that itself contains CRCs stays well distributed.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// The inverse of [`mask`].
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

pub fn masked_crc32c(data: &[u8]) -> u32 {
    mask(crc32c(data))
}

/// Frames the record whose data is `buf[12..]` in place: fills the 12 header bytes
/// reserved at the front and appends the data's CRC (no copy of the data).
pub fn frame_in_place(buf: &mut Vec<u8>) {
    debug_assert!(buf.len() >= 12, "the header is reserved");
    let len = ((buf.len() - 12) as u64).to_le_bytes();
    buf[..8].copy_from_slice(&len);
    buf[8..12].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
    let crc = masked_crc32c(&buf[12..]);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// Writes one framed record.
pub fn write_record<W: Write + ?Sized>(w: &mut W, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    let mut header = [0u8; 12];
    header[..8].copy_from_slice(&len);
    header[8..].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
    w.write_all(&header)?;
    w.write_all(data)?;
    w.write_all(&masked_crc32c(data).to_le_bytes())
}

/// Reads framed records back, checking both CRCs of every record (what TensorFlow's reader
/// does). A damaged file yields an `InvalidData` error naming the record's offset.
pub struct RecordReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> RecordReader<R> {
    pub fn new(inner: R) -> RecordReader<R> {
        RecordReader { inner, offset: 0 }
    }

    /// The next record; `Ok(None)` at a clean end of file.
    pub fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut header = [0u8; 12];
        let mut got = 0;
        while got < header.len() {
            let n = self.inner.read(&mut header[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            return Ok(None);
        }
        let bad = |what: &str, at: u64| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what} at byte {at}"))
        };
        if got < header.len() {
            return Err(bad("truncated record header", self.offset));
        }
        let len_bytes: [u8; 8] = header[..8].try_into().expect("8 bytes");
        let len_crc = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
        if masked_crc32c(&len_bytes) != len_crc {
            return Err(bad("corrupted record length", self.offset));
        }
        let len = u64::from_le_bytes(len_bytes);
        let mut data = Vec::new();
        (&mut self.inner).take(len).read_to_end(&mut data)?;
        let mut crc = [0u8; 4];
        if (data.len() as u64) < len || self.inner.read_exact(&mut crc).is_err() {
            return Err(bad("truncated record", self.offset));
        }
        if masked_crc32c(&data) != u32::from_le_bytes(crc) {
            return Err(bad("corrupted record data", self.offset));
        }
        self.offset += 16 + len;
        Ok(Some(data))
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_in_place_equals_writing() {
        for data in [&b""[..], b"x", &[7u8; 5000]] {
            let mut written = Vec::new();
            write_record(&mut written, data).unwrap();
            let mut framed = vec![0u8; 12];
            framed.extend_from_slice(data);
            frame_in_place(&mut framed);
            assert_eq!(framed, written);
        }
    }

    #[test]
    fn crc32c_reference_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
        assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
        assert_eq!(unmask(mask(0x1234_5678)), 0x1234_5678);
    }

    #[test]
    fn a_flipped_byte_is_caught() {
        let mut buf = Vec::new();
        write_record(&mut buf, b"hello tfrecord").unwrap();
        assert_eq!(buf.len(), 16 + 14);
        for i in 0..buf.len() {
            let mut copy = buf.clone();
            copy[i] ^= 0x01;
            let r = RecordReader::new(&copy[..]).next_record();
            assert!(r.is_err(), "flip at byte {i} went unnoticed");
        }
        let back = RecordReader::new(&buf[..]).next_record().unwrap();
        assert_eq!(back.as_deref(), Some(&b"hello tfrecord"[..]));
    }
}
