//! The data files of one split: TFRecord shards, a CSV file or a JSON Lines file.
//!
//! Every file is hashed (SHA-256) as its bytes are written, so the manifest needs no second
//! read, handed to the disk in blocks by a thread of its own (see [`super::disk`]), and
//! synced when finished. GZIP output uses a fixed header (no file name,
//! modification time 0), so the same records give the same bytes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Format;
use super::disk::BlockFile;
use super::example::{Example, Feature};
use super::features::{Layout, Value};
use super::tfrecord::frame_in_place;

/// One written data file, as listed in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// Relative to the dataset folder, with `/` separators.
    pub path: String,
    pub sha256: String,
    pub records: u64,
}

struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Stream {
    Plain(Hashing<BlockFile>),
    Gzip(GzEncoder<Hashing<BlockFile>>),
}

/// A data file being written.
pub struct DataFile {
    rel: String,
    path: PathBuf,
    stream: Stream,
    records: u64,
}

impl DataFile {
    pub fn create(root: &Path, rel: &str, gzip: bool) -> Result<DataFile> {
        let path = root.join(rel);
        let file = BlockFile::create(&path)
            .with_context(|| format!("could not create `{}`", path.display()))?;
        let hashing = Hashing {
            inner: file,
            sha: Sha256::new(),
        };
        let stream = if gzip {
            let encoder = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(hashing, flate2::Compression::default());
            Stream::Gzip(encoder)
        } else {
            Stream::Plain(hashing)
        };
        Ok(DataFile {
            rel: rel.to_string(),
            path,
            stream,
            records: 0,
        })
    }

    /// Flushes, syncs and closes the file.
    pub fn finish(self) -> Result<FileEntry> {
        let path = self.path;
        let ctx = || format!("could not write `{}`", path.display());
        let hashing = match self.stream {
            Stream::Plain(h) => h,
            Stream::Gzip(g) => g.finish().with_context(ctx)?,
        };
        let digest = hashing.sha.finalize();
        hashing.inner.finish().with_context(ctx)?;
        Ok(FileEntry {
            path: self.rel,
            sha256: super::hex(&digest),
            records: self.records,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Write for DataFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(w) => w.write(buf),
            Stream::Gzip(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(w) => w.write_all(buf),
            Stream::Gzip(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(w) => w.flush(),
            Stream::Gzip(w) => w.flush(),
        }
    }
}

/// The file name of TFRecord shard `i` of `n`.
pub fn shard_name(i: u32, n: u32, gzip: bool) -> String {
    format!(
        "data-{i:05}-of-{n:05}.tfrecord{}",
        if gzip { ".gz" } else { "" }
    )
}

/// The writers of one split.
pub enum SplitSink {
    /// Records go to the shards in turn.
    TfRecord {
        shards: Vec<DataFile>,
        next: usize,
    },
    /// The writer, the rows written, and the file's path (for messages).
    Csv(Box<csv::Writer<DataFile>>, u64, PathBuf),
    Jsonl(Box<DataFile>),
    /// A detection dataset's split folder (COCO, VOC, YOLO).
    Folder(Box<super::dataset::FolderSink>),
}

impl SplitSink {
    /// Creates the split's folder under `root` and its files; a CSV file gets its header.
    pub fn create(
        root: &Path,
        split: &str,
        format: Format,
        gzip: bool,
        shards: u32,
        layout: &Layout,
    ) -> Result<SplitSink> {
        let dir = root.join(split);
        std::fs::create_dir(&dir)
            .with_context(|| format!("could not create `{}`", dir.display()))?;
        Ok(match format {
            Format::TfRecord => SplitSink::TfRecord {
                shards: (0..shards)
                    .map(|i| {
                        DataFile::create(
                            root,
                            &format!("{split}/{}", shard_name(i, shards, gzip)),
                            gzip,
                        )
                    })
                    .collect::<Result<_>>()?,
                next: 0,
            },
            Format::Csv => {
                let file = DataFile::create(root, &format!("{split}/data.csv"), false)?;
                let path = file.path().to_path_buf();
                let mut w = csv::WriterBuilder::new().from_writer(file);
                w.write_record(layout.features.iter().map(|f| f.key.as_str()))
                    .with_context(|| format!("could not write `{}`", path.display()))?;
                SplitSink::Csv(Box::new(w), 0, path)
            }
            Format::Jsonl => SplitSink::Jsonl(Box::new(DataFile::create(
                root,
                &format!("{split}/data.jsonl"),
                false,
            )?)),
            Format::Coco | Format::Voc | Format::Yolo => {
                anyhow::bail!("a folder format's split is a `dataset::FolderSink`")
            }
        })
    }

    /// Writes one record prepared by [`prepare`].
    pub fn write(&mut self, record: Prepared) -> Result<()> {
        match (self, record) {
            (SplitSink::TfRecord { shards, next }, Prepared::Bytes(bytes)) => {
                let file = &mut shards[*next];
                file.write_all(&bytes)
                    .with_context(|| format!("could not write `{}`", file.path().display()))?;
                file.records += 1;
                *next = (*next + 1) % shards.len();
            }
            (SplitSink::Jsonl(file), Prepared::Bytes(bytes)) => {
                file.write_all(&bytes)
                    .with_context(|| format!("could not write `{}`", file.path().display()))?;
                file.records += 1;
            }
            (SplitSink::Folder(folder), Prepared::Image(image)) => folder.write(*image)?,
            (SplitSink::Csv(w, rows, path), Prepared::Cells(cells)) => {
                w.write_record(&cells)
                    .with_context(|| format!("could not write `{}`", path.display()))?;
                *rows += 1;
            }
            _ => anyhow::bail!("a record was prepared for another format"),
        }
        Ok(())
    }

    /// Finishes every file of the split.
    pub fn finish(self) -> Result<Vec<FileEntry>> {
        match self {
            SplitSink::TfRecord { shards, .. } => {
                shards.into_iter().map(DataFile::finish).collect()
            }
            SplitSink::Csv(w, rows, path) => {
                let mut file = w.into_inner().map_err(|e| {
                    anyhow::anyhow!("could not write `{}`: {}", path.display(), e.error())
                })?;
                file.records = rows;
                Ok(vec![file.finish()?])
            }
            SplitSink::Jsonl(file) => Ok(vec![(*file).finish()?]),
            SplitSink::Folder(folder) => folder.finish(),
        }
    }
}

/// A record turned into what its file holds; made in parallel, written in order.
pub enum Prepared {
    /// A framed TFRecord (Example encoded, both CRCs computed) or a JSON line.
    Bytes(Vec<u8>),
    /// CSV cells.
    Cells(Vec<String>),
    /// An image of a detection dataset with its annotations.
    Image(Box<super::dataset::PreparedImage>),
}

/// Encodes one record for `format`. Pure, so records are prepared on all cores.
pub fn prepare(format: Format, layout: &Layout, record: Vec<Option<Value>>) -> Result<Prepared> {
    Ok(match format {
        Format::TfRecord => {
            let features = layout
                .features
                .iter()
                .zip(record)
                .filter_map(|(spec, v)| {
                    let feature = match v? {
                        Value::Bytes(b) => Feature::bytes(b),
                        Value::Int(i) => Feature::ints(i),
                        Value::Float(f) => {
                            Feature::floats(f.into_iter().map(|x| x as f32).collect())
                        }
                    };
                    Some((spec.key.clone(), feature))
                })
                .collect();
            // The header is reserved and filled in after the Example: the data is not
            // copied a second time.
            let mut framed = vec![0u8; 12];
            Example::from_features(features).append_to(&mut framed, 4);
            frame_in_place(&mut framed);
            Prepared::Bytes(framed)
        }
        Format::Csv => Prepared::Cells(
            record
                .into_iter()
                .map(|v| v.map(csv_cell).unwrap_or_default())
                .collect(),
        ),
        Format::Jsonl => {
            let mut obj = serde_json::Map::new();
            for (spec, v) in layout.features.iter().zip(record) {
                if let Some(v) = v {
                    obj.insert(spec.key.clone(), json_value(v, spec.max_values.is_some()));
                }
            }
            let mut line = serde_json::to_vec(&obj)?;
            line.push(b'\n');
            Prepared::Bytes(line)
        }
        Format::Coco | Format::Voc | Format::Yolo => {
            anyhow::bail!("a folder format's images are prepared by `dataset::prepare`")
        }
    })
}

/// Floats always carry a `.` or an exponent, so a reader that infers column types (pandas,
/// `CsvExampleGen`) sees a float column even when a value is whole.
fn float_text(f: f64) -> String {
    format!("{f:?}")
}

/// One CSV cell: several values (multi-label) are joined with `|`.
fn csv_cell(v: Value) -> String {
    match v {
        Value::Bytes(b) => b
            .iter()
            .map(|x| String::from_utf8_lossy(x))
            .collect::<Vec<_>>()
            .join("|"),
        Value::Int(i) => i.iter().map(i64::to_string).collect::<Vec<_>>().join("|"),
        Value::Float(f) => f.into_iter().map(float_text).collect::<Vec<_>>().join("|"),
    }
}

fn json_value(v: Value, list: bool) -> serde_json::Value {
    use serde_json::Value as J;
    let mut items: Vec<J> = match v {
        Value::Bytes(b) => b
            .into_iter()
            .map(|x| J::String(String::from_utf8_lossy(&x).into_owned()))
            .collect(),
        Value::Int(i) => i.into_iter().map(J::from).collect(),
        Value::Float(f) => f.into_iter().map(J::from).collect(),
    };
    if list || items.len() != 1 {
        J::Array(items)
    } else {
        items.pop().unwrap_or(J::Null)
    }
}
