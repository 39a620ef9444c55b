"""TensorFlow's side of benches/export.rs.

Usage: tf_write.py EXPORT_DIR PROJECT_ROOT OUT_DIR RUNS

Writes, from the same image files, the same tf.train.Example records that keylabel wrote to
EXPORT_DIR (the order, split and metadata of each record are taken from keylabel's files;
the bytes come from the image files under PROJECT_ROOT), timed two ways:

- from files (`TF_SECONDS`): what a Python export script does for every record: read the
  image file, build the Example, `SerializeToString()`, `tf.io.TFRecordWriter.write`; then
  `close`, one file per split, as keylabel does;
- write only (`TF_WRITE_SECONDS`): the same with every Example built beforehand in memory,
  so only serialisation and writing are timed.

Prints the medians and whether the files are byte-identical to keylabel's (written once
more with deterministic serialisation).
"""

import hashlib
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def feature_bytes(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))


def main(export_dir, root, out_dir, runs):
    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    # Per output file, the metadata of its records: the image file's name, and every other
    # feature as (kind, values), as an export script has them from its annotations (for a
    # detect project: the boxes' coordinates, classes and areas).
    metas = []
    for entry in manifest["files"]:
        rows = []
        for raw in tf.data.TFRecordDataset([os.path.join(export_dir, entry["path"])]):
            ours = tf.train.Example.FromString(raw.numpy()).features.feature
            name = ours["image/filename"].bytes_list.value[0].decode()
            features = []
            for key, f in ours.items():
                if key == "image/encoded":
                    continue
                kind = f.WhichOneof("kind")
                features.append((key, kind, list(getattr(f, kind).value)))
            rows.append((name, features))
        metas.append((entry["path"], rows))
    n = sum(len(r) for _, r in metas)
    makers = {
        "bytes_list": lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=v)),
        "int64_list": lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v)),
        "float_list": lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v)),
    }

    def example(meta):
        name, features = meta
        with open(os.path.join(root, name), "rb") as f:
            encoded = f.read()
        feature = {"image/encoded": feature_bytes([encoded])}
        for key, kind, values in features:
            if key == "image/key/sha256":
                # Derived from the file, as the Object Detection API's own dataset tools
                # (create_coco_tf_record.py and the others) compute it.
                values = [hashlib.sha256(encoded).hexdigest().encode()]
            feature[key] = makers[kind](values)
        return tf.train.Example(features=tf.train.Features(feature=feature))

    def write(plans, deterministic=False):
        for rel, items in plans:
            path = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with tf.io.TFRecordWriter(path) as w:
                for item in items:
                    ex = item if isinstance(item, tf.train.Example) else example(item)
                    w.write(ex.SerializeToString(deterministic=deterministic))

    def timed(plans):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            write(plans)
            times.append(time.perf_counter() - t)
        return statistics.median(times), times[0]

    from_files, first = timed(metas)
    print(f"TensorFlow from files, first run (new files): {first:.3f} s")
    print(f"TensorFlow from files (read + build Example + serialize + write + close): median "
          f"{from_files:.3f} s of {runs} ({n / from_files:.0f} records/s)")
    built = [(rel, [example(m) for m in rows]) for rel, rows in metas]
    write_only, _ = timed(built)
    print(f"TensorFlow write only (serialize + write + close of prebuilt Examples): median "
          f"{write_only:.3f} s of {runs} ({n / write_only:.0f} records/s)")
    write(built, deterministic=True)
    same = all(
        open(os.path.join(out_dir, e["path"]), "rb").read()
        == open(os.path.join(export_dir, e["path"]), "rb").read()
        for e in manifest["files"]
    )
    print(f"byte-identical to keylabel's files: {'yes' if same else 'no'}")
    print(f"TF_SECONDS {from_files:.6f}")
    print(f"TF_FIRST_SECONDS {first:.6f}")
    print(f"TF_WRITE_SECONDS {write_only:.6f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
