"""Checks keylabel's TFRecord exports with TensorFlow Data Validation, as a TFX pipeline's
StatisticsGen and ExampleValidator would.

Usage: check_tfdv.py DIR [DIR ...]

For each export folder (classification or detection, `format: tfrecord`):
- parses schema.pbtxt into a tensorflow_metadata Schema;
- for each split, generates statistics over all its TFRecord files (the codec chosen by
  the file suffix) with tfdv.generate_statistics_from_tfrecord and checks that
  tfdv.validate_statistics finds no anomaly against the schema;
- checks the statistics saw as many examples as manifest.json lists for the split;
- negative controls, so that "no anomaly" means something: the same statistics against
  a schema that requires a feature the data lacks, and against one whose first domain
  excludes a value the data holds, must both be flagged.

Runs under its own interpreter (TFDV pins an older TensorFlow than the other checks).
Prints one "OK <dir>: ..." line per folder; any failure raises.
"""

import collections
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow_data_validation as tfdv  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: E402


def split_files(root, manifest):
    """split name -> its TFRecord files that hold records (paths under root)."""
    splits = collections.defaultdict(list)
    for entry in manifest["files"]:
        if entry["records"] > 0:
            splits[entry["path"].split("/", 1)[0]].append(os.path.join(root, entry["path"]))
    return splits


def example_count(stats):
    return sum(d.num_examples for d in stats.datasets)


def narrowed(schema):
    """A copy of schema whose first int or float domain excludes everything (or None)."""
    wrong = schema_pb2.Schema()
    wrong.CopyFrom(schema)
    for feature in wrong.feature:
        if feature.HasField("int_domain"):
            feature.int_domain.min = feature.int_domain.max + 1
            feature.int_domain.max = feature.int_domain.min
            return wrong, feature.name
        if feature.HasField("float_domain"):
            feature.float_domain.min = 2.0
            feature.float_domain.max = 3.0
            return wrong, feature.name
    return None, None


def check(root):
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["format"] == "tfrecord", (root, manifest["format"])
    with open(os.path.join(root, "schema.pbtxt"), encoding="utf-8") as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    splits = split_files(root, manifest)
    assert splits, f"{root}: no TFRecord file holds a record"
    checked = []
    for split, paths in sorted(splits.items()):
        # One pattern for all of the split's shards, as ExampleGen's output is read.
        pattern = os.path.join(root, split, "data-*")
        stats = tfdv.generate_statistics_from_tfrecord(data_location=pattern)
        expected = manifest["splits"][split]["count"]
        assert example_count(stats) == expected, (root, split, example_count(stats), expected)
        anomalies = tfdv.validate_statistics(stats, schema)
        assert not anomalies.anomaly_info, (root, split, anomalies)

        missing = schema_pb2.Schema()
        missing.CopyFrom(schema)
        extra = missing.feature.add(name="keylabel/not-exported", type=schema_pb2.INT)
        extra.presence.min_fraction = 1.0
        flagged = tfdv.validate_statistics(stats, missing).anomaly_info
        assert "keylabel/not-exported" in flagged, (root, split, flagged)

        wrong, name = narrowed(schema)
        if wrong is not None:
            flagged = tfdv.validate_statistics(stats, wrong).anomaly_info
            assert name in flagged, (root, split, name, flagged)
        checked.append(f"{split} {expected}")
    print(f"OK {root}: TFDV {tfdv.__version__}, no anomaly ({', '.join(checked)} examples)")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    for root in argv[1:]:
        check(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
