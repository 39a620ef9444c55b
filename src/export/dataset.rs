//! Detection datasets as folders of images with their annotations: COCO
//! (`<split>/annotations.json`), Pascal VOC (one XML per image) and YOLO (one `.txt` per
//! image, `data.yaml`), each split's images in `<split>/images/`.
//!
//! Images are hard links to the checked files when the dataset is on the same file system
//! (a dataset of a million photos costs no space), else copies of the checked bytes. Boxes
//! are in the stored pixel frame, clipped to the image, as in every keylabel export.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::features::ExportBox;
use super::sink::FileEntry;
use super::{Format, hex};
use crate::project::Sample;

/// An image and its annotations, made in parallel, written in order.
pub struct PreparedImage {
    /// The checked file, for a hard link.
    source: PathBuf,
    /// Its checked bytes (copied when a link cannot be made).
    bytes: Vec<u8>,
    sha256: String,
    /// The image's file name in the dataset.
    name: String,
    width: u32,
    height: u32,
    boxes: Vec<ExportBox>,
    /// The VOC XML or YOLO text of the image.
    sidecar: Option<String>,
}

/// Prepares one image of a split (pure but for nothing: everything is computed from the
/// arguments, so images are prepared on all cores).
pub fn prepare(
    format: Format,
    sample: &Sample,
    source: PathBuf,
    bytes: Vec<u8>,
    name: &str,
    boxes: &[ExportBox],
    label_map: &[String],
) -> PreparedImage {
    let (width, height) = (sample.width.unwrap_or(0), sample.height.unwrap_or(0));
    let sidecar = match format {
        Format::Voc => {
            // A file no decoder reads was refused by validation; colour is the usual case.
            let depth = crate::media::channels(&bytes).unwrap_or(3);
            Some(voc_xml(
                name,
                [width, height, depth.into()],
                boxes,
                label_map,
            ))
        }
        Format::Yolo => Some(yolo_txt(width, height, boxes)),
        _ => None,
    };
    PreparedImage {
        source,
        sha256: super::image_sha256(sample, &bytes),
        bytes,
        name: name.to_string(),
        width,
        height,
        boxes: boxes.to_vec(),
        sidecar,
    }
}

/// The writer of one split's folder.
pub struct FolderSink {
    root: PathBuf,
    split: String,
    format: Format,
    files: Vec<FileEntry>,
    /// COCO: the `images` and `annotations` so far.
    coco_images: Vec<serde_json::Value>,
    coco_annotations: Vec<serde_json::Value>,
    /// Whether hard links still work (the first that fails across file systems ends them).
    link: bool,
    label_map: Vec<String>,
}

impl FolderSink {
    pub fn create(
        root: &Path,
        split: &str,
        format: Format,
        label_map: &[String],
    ) -> Result<FolderSink> {
        let dir = root.join(split);
        for sub in std::iter::once("images").chain(match format {
            Format::Voc => Some("annotations"),
            Format::Yolo => Some("labels"),
            _ => None,
        }) {
            let d = dir.join(sub);
            fs::create_dir_all(&d)
                .with_context(|| format!("could not create `{}`", d.display()))?;
        }
        Ok(FolderSink {
            root: root.to_path_buf(),
            split: split.to_string(),
            format,
            files: Vec::new(),
            coco_images: Vec::new(),
            coco_annotations: Vec::new(),
            link: true,
            label_map: label_map.to_vec(),
        })
    }

    pub fn write(&mut self, image: PreparedImage) -> Result<()> {
        let rel = format!("{}/images/{}", self.split, image.name);
        let dest = self.root.join(&rel);
        self.put_image(&image, &dest)?;
        self.files.push(FileEntry {
            path: rel,
            sha256: image.sha256.clone(),
            records: 1,
        });
        if let Some(text) = &image.sidecar {
            let (folder, ext) = match self.format {
                Format::Voc => ("annotations", "xml"),
                _ => ("labels", "txt"),
            };
            let rel = format!("{}/{folder}/{}.{ext}", self.split, stem(&image.name));
            self.files
                .push(write_file(&self.root, &rel, text.as_bytes(), 1)?);
        }
        if self.format == Format::Coco {
            let id = self.coco_images.len() as u64 + 1;
            self.coco_images.push(json!({
                "id": id,
                "file_name": image.name,
                "width": image.width,
                "height": image.height,
            }));
            for b in &image.boxes {
                let n = self.coco_annotations.len() as u64 + 1;
                self.coco_annotations.push(json!({
                    "id": n,
                    "image_id": id,
                    "category_id": b.class + 1,
                    "bbox": [b.x, b.y, b.w, b.h],
                    "area": b.area(),
                    "iscrowd": 0,
                }));
            }
        }
        Ok(())
    }

    /// A hard link to the checked file when the file is still exactly the checked bytes'
    /// length (it was read and hashed just now) and the file system allows it; else the
    /// bytes are written.
    fn put_image(&mut self, image: &PreparedImage, dest: &Path) -> Result<()> {
        if self.link {
            let same_length =
                fs::metadata(&image.source).is_ok_and(|m| m.len() == image.bytes.len() as u64);
            if same_length {
                match fs::hard_link(&image.source, dest) {
                    Ok(()) => return Ok(()),
                    // Another file system, or one without links: copies from now on.
                    Err(_) => self.link = false,
                }
            }
        }
        let mut f = fs::File::create(dest)
            .with_context(|| format!("could not create `{}`", dest.display()))?;
        f.write_all(&image.bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("could not write `{}`", dest.display()))
    }

    /// Writes the split's COCO file, syncs its folders, and lists its files.
    pub fn finish(mut self) -> Result<Vec<FileEntry>> {
        if self.format == Format::Coco {
            let categories: Vec<serde_json::Value> = self
                .label_map
                .iter()
                .enumerate()
                .map(|(i, name)| json!({"id": i + 1, "name": name, "supercategory": ""}))
                .collect();
            let records = self.coco_images.len() as u64;
            let doc = json!({
                "info": {"description": format!("{} split, exported by keylabel", self.split)},
                "licenses": [],
                "images": self.coco_images,
                "annotations": self.coco_annotations,
                "categories": categories,
            });
            let mut text = serde_json::to_vec(&doc).context("could not serialise COCO")?;
            text.push(b'\n');
            let rel = format!("{}/annotations.json", self.split);
            self.files
                .push(write_file(&self.root, &rel, &text, records)?);
        }
        let dir = self.root.join(&self.split);
        for sub in ["images", "annotations", "labels"] {
            if dir.join(sub).is_dir() {
                super::sync_dir(&dir.join(sub));
            }
        }
        Ok(self.files)
    }
}

/// YOLO's `data.yaml`: the split folders and the class names in index order.
pub fn data_yaml(splits: &[String], label_map: &[String]) -> String {
    let mut s =
        String::from("# YOLO dataset written by keylabel: images/ and labels/ per split.\n");
    for split in splits {
        let _ = writeln!(s, "{}: {}/images", quote(split), quote(split));
    }
    let _ = writeln!(s, "nc: {}", label_map.len());
    s.push_str("names:\n");
    for (i, name) in label_map.iter().enumerate() {
        let _ = writeln!(s, "  {i}: {}", quote(name));
    }
    s
}

/// A YAML double-quoted scalar (JSON's string syntax is one).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn write_file(root: &Path, rel: &str, bytes: &[u8], records: u64) -> Result<FileEntry> {
    let path = root.join(rel);
    let mut f = fs::File::create(&path)
        .with_context(|| format!("could not create `{}`", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("could not write `{}`", path.display()))?;
    Ok(FileEntry {
        path: rel.to_string(),
        sha256: hex(&Sha256::digest(bytes)),
        records,
    })
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// Pascal VOC's annotation of one image of `[width, height, channels]`: corners as 1-based
/// pixel indices, rounded (`xmin = x + 1`, `xmax = x + w`), within the image.
fn voc_xml(
    name: &str,
    [width, height, depth]: [u32; 3],
    boxes: &[ExportBox],
    label_map: &[String],
) -> String {
    let mut s = String::from("<annotation>\n  <folder>images</folder>\n");
    let _ = writeln!(s, "  <filename>{}</filename>", xml_escape(name));
    let _ = writeln!(
        s,
        "  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n    \
         <depth>{depth}</depth>\n  </size>\n  <segmented>0</segmented>"
    );
    for b in boxes {
        let corner = |v: f64, max: u32| (v.round() as i64).clamp(1, i64::from(max.max(1)));
        let _ = writeln!(
            s,
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    \
             <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n      \
             <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      \
             <ymax>{}</ymax>\n    </bndbox>\n  </object>",
            xml_escape(&label_map[b.class as usize]),
            corner(b.x + 1.0, width),
            corner(b.y + 1.0, height),
            corner(b.x + b.w, width),
            corner(b.y + b.h, height),
        );
    }
    s.push_str("</annotation>\n");
    s
}

/// YOLO's label lines: class index, then centre x, centre y, width, height as fractions,
/// each in the shortest form that reads back as the same number (no rounding to six
/// places: a box on a large photo keeps its exact pixels).
fn yolo_txt(width: u32, height: u32, boxes: &[ExportBox]) -> String {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let mut s = String::new();
    for b in boxes {
        let _ = writeln!(
            s,
            "{} {} {} {} {}",
            b.class,
            (b.x + b.w / 2.0) / w,
            (b.y + b.h / 2.0) / h,
            b.w / w,
            b.h / h
        );
    }
    s
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// Gives each exported image a file name of its own in its split's `images/` folder: the
/// sample's own file name when it is a plain, portable one and no other image of the
/// split has the same stem (YOLO and VOC name the annotation file after it), else the
/// content hash with the format's extension. Never a path: names with `/`, `..`,
/// control characters or names reserved on Windows cannot escape or break the folder.
pub struct Names {
    taken: std::collections::HashSet<String>,
}

impl Names {
    pub fn new() -> Names {
        Names {
            taken: std::collections::HashSet::new(),
        }
    }

    pub fn name(&mut self, sample_name: &str, hash: &str, format: Option<&str>) -> String {
        let file = sample_name.rsplit('/').next().unwrap_or(sample_name);
        let ext = match format {
            Some("jpeg") => "jpg",
            Some(f) => f,
            None => "img",
        };
        let by_hash = format!("{}.{ext}", &hash[..hash.len().min(32)]);
        let candidate = if portable(file) {
            file.to_string()
        } else {
            by_hash.clone()
        };
        let key = stem(&candidate).to_lowercase();
        if self.taken.insert(key) {
            return candidate;
        }
        // The hash is unique per sample; a clash with a plain name gets the whole hash.
        let mut name = by_hash;
        while !self.taken.insert(stem(&name).to_lowercase()) {
            name = format!("{hash}-{}.{ext}", self.taken.len());
        }
        name
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new()
    }
}

/// A file name every file system and tool takes as it is.
fn portable(name: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    let base = stem(name).to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name.contains('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ' | '+'))
        && !name.ends_with(' ')
        && !RESERVED.contains(&base.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_unique_and_never_paths() {
        let mut n = Names::new();
        let h1 = "a".repeat(64);
        let h2 = "b".repeat(64);
        let h3 = "c".repeat(64);
        assert_eq!(n.name("cars/red car.jpg", &h1, Some("jpeg")), "red car.jpg");
        // Same stem in another folder, or another extension: the hash name.
        assert_eq!(
            n.name("trucks/red car.png", &h2, Some("png")),
            format!("{}.png", &h2[..32])
        );
        for hostile in [
            "../../etc/passwd",
            "CON.jpg",
            "a\nb.jpg",
            ".hidden.jpg",
            "x/",
        ] {
            let name = n.name(hostile, &h3, Some("jpeg"));
            assert!(
                !name.contains('/') && !name.contains('\n') && name != "CON.jpg",
                "{name}"
            );
        }
    }

    #[test]
    fn voc_corners_are_one_based_and_yolo_is_normalised() {
        let b = ExportBox {
            class: 1,
            x: 0.0,
            y: 10.0,
            w: 1.0,
            h: 20.0,
        };
        let xml = voc_xml(
            "a.jpg",
            [100, 50, 3],
            &[b],
            &["car".into(), "dog & cat".into()],
        );
        assert!(
            xml.contains("<xmin>1</xmin>") && xml.contains("<xmax>1</xmax>"),
            "{xml}"
        );
        assert!(
            xml.contains("<ymin>11</ymin>") && xml.contains("<ymax>30</ymax>"),
            "{xml}"
        );
        assert!(xml.contains("<name>dog &amp; cat</name>"));
        assert_eq!(yolo_txt(100, 50, &[b]), "1 0.005 0.4 0.01 0.4\n");
    }
}
