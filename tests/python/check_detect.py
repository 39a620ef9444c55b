"""Reads keylabel's detection exports with the tools a detection pipeline uses.

Usage: check_detect.py EXPECTED.json TFRECORD_DIR COCO_DIR

EXPECTED.json maps each image's sample name to its file name in the COCO export, its
size, and its boxes as [class name, x, y, w, h] in pixels (what the project holds).

- TFRECORD_DIR: every record is parsed with the TensorFlow Object Detection API's
  feature keys (variable-length box features); `image/encoded` is decoded with
  tf.io.decode_image and its shape must be `image/height` x `image/width`; the boxes,
  scaled back by that size, must be the expected ones; class ids must follow
  label_map.pbtxt; `image/key/sha256` must be the SHA-256 of the encoded bytes.
- COCO_DIR: pycocotools loads every split's annotations.json; COCOeval of the export's
  boxes (as detections with score 1) against a ground truth built from EXPECTED.json
  gives AP 1.0; every image file is there and decodes to the stated size.

Prints one "OK ..." line per check; any failure raises.
"""

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/filename": tf.io.FixedLenFeature([], tf.string),
    "image/source_id": tf.io.FixedLenFeature([], tf.string),
    "image/key/sha256": tf.io.FixedLenFeature([], tf.string),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/class/text": tf.io.VarLenFeature(tf.string),
    "image/object/area": tf.io.VarLenFeature(tf.float32),
}


def label_map(path):
    """label_map.pbtxt -> {name: id}, as the Object Detection API's label_map_util reads it."""
    text = open(path, encoding="utf-8").read()
    items = re.findall(r'item\s*\{\s*id:\s*(\d+)\s*name:\s*"((?:[^"\\]|\\.)*)"\s*\}', text)
    ids = {name: int(i) for i, name in items}
    assert sorted(ids.values()) == list(range(1, len(ids) + 1)), text
    return ids


def close(a, b, tol):
    return abs(a - b) <= tol


def check_tfrecord(expected, out):
    ids = label_map(os.path.join(out, "label_map.pbtxt"))
    files = sorted(glob.glob(os.path.join(out, "*", "*.tfrecord")))
    assert files, f"no TFRecord in {out}"
    seen = 0
    for record in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(record, FEATURES)
        name = ex["image/filename"].numpy().decode("utf-8")
        want = expected[name]
        encoded = ex["image/encoded"].numpy()
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
        h, w = int(image.shape[0]), int(image.shape[1])
        assert (h, w) == (int(ex["image/height"]), int(ex["image/width"])), name
        assert (w, h) == (want["width"], want["height"]), name
        assert ex["image/key/sha256"].numpy().decode() == hashlib.sha256(encoded).hexdigest()
        dense = {k: tf.sparse.to_dense(ex[k]).numpy() for k in FEATURES if k.startswith("image/object")}
        boxes = want["boxes"]
        assert len(dense["image/object/class/label"]) == len(boxes), name
        for i, (cls, x, y, bw, bh) in enumerate(boxes):
            assert dense["image/object/class/label"][i] == ids[cls], (name, i)
            assert dense["image/object/class/text"][i].decode() == cls, (name, i)
            # float32 features: a pixel is 1/w of the unit range.
            tol = 1e-5
            assert close(dense["image/object/bbox/xmin"][i] * w, x, tol * w), (name, i)
            assert close(dense["image/object/bbox/ymin"][i] * h, y, tol * h), (name, i)
            assert close(dense["image/object/bbox/xmax"][i] * w, x + bw, tol * w), (name, i)
            assert close(dense["image/object/bbox/ymax"][i] * h, y + bh, tol * h), (name, i)
            assert close(dense["image/object/area"][i], bw * bh, 1e-3), (name, i)
            for k in ("xmin", "xmax", "ymin", "ymax"):
                v = dense[f"image/object/bbox/{k}"][i]
                assert 0.0 <= v <= 1.0, (name, k, v)
        seen += 1
    assert seen == len(expected), (seen, len(expected))
    print(f"OK TFRecord {out}: {seen} images read by TensorFlow with the Object Detection API's keys")


def check_coco(expected, out):
    by_file = {v["file_name"]: v for v in expected.values()}
    images = 0
    for ann_file in sorted(glob.glob(os.path.join(out, "*", "annotations.json"))):
        split = os.path.dirname(ann_file)
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(ann_file)
        names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        # The ground truth as the project holds it, with the export's image ids.
        gt = {"images": [], "annotations": [], "categories": coco.dataset["categories"]}
        detections = []
        by_name = {v: k for k, v in names.items()}
        for img in coco.loadImgs(coco.getImgIds()):
            want = by_file[img["file_name"]]
            path = os.path.join(split, "images", img["file_name"])
            decoded = tf.io.decode_image(open(path, "rb").read(), expand_animations=False)
            assert (int(decoded.shape[1]), int(decoded.shape[0])) == (img["width"], img["height"])
            assert (img["width"], img["height"]) == (want["width"], want["height"])
            gt["images"].append(img)
            for cls, x, y, bw, bh in want["boxes"]:
                gt["annotations"].append({
                    "id": len(gt["annotations"]) + 1, "image_id": img["id"],
                    "category_id": by_name[cls], "bbox": [x, y, bw, bh],
                    "area": bw * bh, "iscrowd": 0,
                })
            for a in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
                detections.append({
                    "image_id": a["image_id"], "category_id": a["category_id"],
                    "bbox": a["bbox"], "score": 1.0,
                })
            images += 1
        if not gt["annotations"]:
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            truth = COCO()
            truth.dataset = gt
            truth.createIndex()
            found = truth.loadRes(detections)
            ev = COCOeval(truth, found, "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        ap = ev.stats[0]
        assert np.isclose(ap, 1.0), f"AP {ap} in {ann_file}"
        print(f"OK COCO {ann_file}: pycocotools loads it, COCOeval AP {ap:.3f}")
    assert images == len(expected), (images, len(expected))


def main(argv):
    expected = json.load(open(argv[1], encoding="utf-8"))
    check_tfrecord(expected, argv[2])
    check_coco(expected, argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
