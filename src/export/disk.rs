//! The file under an exported data file: written in whole blocks from a thread of its own,
//! so that the thread encoding and hashing records never waits for the disk.
//!
//! On Linux the blocks go straight to the disk (`O_DIRECT`), past the page cache: writing
//! hundreds of megabytes into new page-cache pages costs a varying, sometimes large, amount
//! of kernel time, and the pages would then have to be written back and synced anyway. A
//! file system that refuses direct I/O (at open or at the first write) gets ordinary
//! writes. The last, partial block is written through the page cache, and [`finish`]
//! syncs the file, so on every system a finished file is on the disk.
//!
//! [`finish`]: BlockFile::finish

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// The size of one block: a multiple of every disk's logical block size.
const BLOCK: usize = 1 << 20;

/// The alignment direct I/O needs of a buffer's address (the largest logical block size).
const ALIGN: usize = 4096;

/// Blocks written ahead of the disk at most (memory: this many mebibytes per file).
const QUEUED: usize = 4;

/// A block being filled: `len` bytes at `buf[start..]`, `start` aligned to [`ALIGN`].
struct Block {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Block {
    fn new() -> Block {
        let buf = vec![0u8; BLOCK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Block { buf, start, len: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.start + self.len..self.start + BLOCK]
    }
}

/// What the writing thread is sent.
enum Job {
    /// A full block.
    Block(Block),
    /// The last bytes: write them, sync the file and end.
    Finish(Block),
}

/// A file being written in blocks by a thread of its own.
pub struct BlockFile {
    block: Block,
    jobs: Option<SyncSender<Job>>,
    /// Emptied blocks coming back for reuse.
    spare: Receiver<Block>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl BlockFile {
    /// Creates the file at `path` (replacing none: it is new in the staging folder).
    pub fn create(path: &Path) -> io::Result<BlockFile> {
        let (file, direct) = open(path)?;
        let (jobs, queue) = sync_channel::<Job>(QUEUED);
        let (give_back, spare) = sync_channel::<Block>(QUEUED + 1);
        let thread = std::thread::Builder::new()
            .name("keylabel-export-write".into())
            .spawn(move || write_blocks(file, direct, &queue, &give_back))?;
        Ok(BlockFile {
            block: Block::new(),
            jobs: Some(jobs),
            spare,
            thread: Some(thread),
        })
    }

    /// Hands the full block to the writing thread.
    fn send(&mut self) -> io::Result<()> {
        let next = self.spare.try_recv().unwrap_or_else(|_| Block::new());
        let full = std::mem::replace(&mut self.block, next);
        self.block.len = 0;
        let sent = self.jobs.as_ref().map(|j| j.send(Job::Block(full)));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread ended early: it says why.
            _ => Err(self.stopped()),
        }
    }

    /// The error that ended the writing thread.
    fn stopped(&mut self) -> io::Error {
        drop(self.jobs.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("the export's writing thread panicked"),
            _ => io::Error::other("the export's writing thread ended early"),
        }
    }

    /// Writes what is left and syncs the file to the disk.
    pub fn finish(mut self) -> io::Result<()> {
        let last = std::mem::replace(
            &mut self.block,
            Block {
                buf: Vec::new(),
                start: 0,
                len: 0,
            },
        );
        let Some(jobs) = self.jobs.take() else {
            return Err(self.stopped());
        };
        // A thread that ended early says why when joined.
        let _ = jobs.send(Job::Finish(last));
        drop(jobs);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the export's writing thread panicked")),
            None => Err(io::Error::other("the export's writing thread ended early")),
        }
    }
}

impl Write for BlockFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let space = self.block.space();
        let n = space.len().min(buf.len());
        space[..n].copy_from_slice(&buf[..n]);
        self.block.len += n;
        if self.block.len == BLOCK {
            self.send()?;
        }
        Ok(n)
    }

    /// Blocks are written when full; [`BlockFile::finish`] writes the rest.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlockFile {
    /// An export given up: the thread ends with what it was sent (the staging folder is
    /// removed).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens `path` new for writing, for direct I/O where the system allows it: the file and
/// whether it is direct.
fn open(path: &Path) -> io::Result<(File, bool)> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        match direct {
            Ok(f) => return Ok((f, true)),
            // This file system does not do direct I/O.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((File::create(path)?, false))
}

/// Turns direct I/O off for `file` (its next writes go through the page cache).
fn buffered(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: plain fcntl calls on a descriptor owned by `file`.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// Writes all of `bytes` to `file`, turning direct I/O off when the file system refuses it
/// here (or a short write leaves the rest unaligned).
fn write_all(file: &mut File, bytes: &[u8], direct: &mut bool) -> io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
        match file.write(&bytes[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if *direct && e.raw_os_error() == Some(libc::EINVAL) => {
                buffered(file)?;
                *direct = false;
            }
            Err(e) => return Err(e),
        }
        if *direct && at % ALIGN != 0 && at < bytes.len() {
            buffered(file)?;
            *direct = false;
        }
    }
    Ok(())
}

/// The writing thread: writes each block sent, in order, and gives the emptied block back;
/// at the end the last bytes, then syncs.
fn write_blocks(
    mut file: File,
    mut direct: bool,
    queue: &Receiver<Job>,
    give_back: &SyncSender<Block>,
) -> io::Result<()> {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Block(block) => {
                write_all(&mut file, block.bytes(), &mut direct)?;
                let _ = give_back.try_send(block);
            }
            Job::Finish(last) => {
                if direct {
                    buffered(&file)?;
                    direct = false;
                }
                write_all(&mut file, last.bytes(), &mut direct)?;
                return file.sync_all();
            }
        }
    }
    // Given up before the end.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the block size, written in uneven pieces, gives back exactly
    /// the bytes written, on the system's temporary folder and (where there is one) a
    /// memory file system, whether or not it takes direct I/O.
    #[test]
    fn a_file_holds_exactly_what_was_written() {
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        if Path::new("/dev/shm").is_dir()
            && let Ok(shm) = tempfile::tempdir_in("/dev/shm")
        {
            dirs.push(shm);
        }
        for dir in &dirs {
            for len in [
                0,
                1,
                ALIGN - 1,
                BLOCK - 1,
                BLOCK,
                BLOCK + 1,
                3 * BLOCK + 12_345,
            ] {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
                let path = dir.path().join(format!("f{len}"));
                let mut f = BlockFile::create(&path).unwrap();
                let mut rest = &bytes[..];
                let mut piece = 1;
                while !rest.is_empty() {
                    let n = piece.min(rest.len());
                    f.write_all(&rest[..n]).unwrap();
                    rest = &rest[n..];
                    piece = piece * 7 + 3;
                }
                f.finish().unwrap();
                assert!(std::fs::read(&path).unwrap() == bytes, "{len} bytes");
            }
        }
    }

    /// A disk that fills up is said, by the write that finds it or by `finish`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error() {
        let mut f = BlockFile::create(Path::new("/dev/full")).unwrap();
        let block = vec![7u8; BLOCK];
        let mut failed = None;
        for _ in 0..(QUEUED + 4) {
            if let Err(e) = f.write_all(&block) {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => f.finish().unwrap_err(),
        };
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    }
}
