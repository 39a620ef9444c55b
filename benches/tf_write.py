"""TensorFlow's side of benches/export.rs.

Usage: tf_write.py EXPORT_DIR PROJECT_ROOT OUT_DIR RUNS

Builds, from the same image files, the same tf.train.Example records that keylabel wrote to
EXPORT_DIR (the order and split of each record are taken from keylabel's files; the bytes
come from the image files under PROJECT_ROOT). Then times only the writing: for every
record `SerializeToString()` and `tf.io.TFRecordWriter.write`, then `close`, one file per
split, as keylabel does. Prints the median as `TF_SECONDS <s>` and whether the files are
byte-identical to keylabel's (written once more with deterministic serialisation).
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def feature_bytes(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))


def feature_ints(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=v))


def main(export_dir, root, out_dir, runs):
    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    label_map = manifest["label_map"]
    plans = []  # (relative output path, [Example])
    for entry in manifest["files"]:
        examples = []
        for raw in tf.data.TFRecordDataset([os.path.join(export_dir, entry["path"])]):
            ours = tf.train.Example.FromString(raw.numpy()).features.feature
            name = ours["image/filename"].bytes_list.value[0].decode()
            with open(os.path.join(root, name), "rb") as f:
                encoded = f.read()
            label = ours["image/class/label"].int64_list.value[0]
            examples.append(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "image/encoded": feature_bytes([encoded]),
                            "image/format": feature_bytes(ours["image/format"].bytes_list.value),
                            "image/height": feature_ints(ours["image/height"].int64_list.value),
                            "image/width": feature_ints(ours["image/width"].int64_list.value),
                            "image/filename": feature_bytes([name.encode()]),
                            # The BLAKE3 content hash (not in Python's standard library).
                            "image/source_id": feature_bytes(
                                ours["image/source_id"].bytes_list.value
                            ),
                            "image/class/label": feature_ints([label]),
                            "image/class/text": feature_bytes([label_map[label].encode()]),
                        }
                    )
                )
            )
        plans.append((entry["path"], examples))
    n = sum(len(e) for _, e in plans)

    def write(deterministic):
        for rel, examples in plans:
            path = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with tf.io.TFRecordWriter(path) as w:
                for ex in examples:
                    w.write(ex.SerializeToString(deterministic=deterministic))

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        write(False)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    print(f"TensorFlow tf.io.TFRecordWriter (serialize + write + close): median {median:.3f} s "
          f"of {runs} ({n / median:.0f} records/s)")
    write(True)
    same = all(
        open(os.path.join(out_dir, e["path"]), "rb").read()
        == open(os.path.join(export_dir, e["path"]), "rb").read()
        for e in manifest["files"]
    )
    print(f"byte-identical to keylabel's files: {'yes' if same else 'no'}")
    print(f"TF_SECONDS {median:.6f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
