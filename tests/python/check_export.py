"""Reads keylabel exports with TensorFlow and pandas, as a TFX pipeline would.

Usage: check_export.py DIR [DIR ...]

For each export folder:
- parses schema.pbtxt (with tensorflow_metadata when installed, else a small text-format
  parser; when both are there they must agree) and derives a tf.io feature spec from it;
- reads every TFRecord with tf.data.TFRecordDataset, the codec chosen by the file suffix
  as TFX does, and parses each record with tf.io.parse_single_example;
- checks record counts, SHA-256 hashes, labels and per-split class counts against
  manifest.json, value domains against the schema, and image sizes against the decoded
  image bytes;
- checks that a copy with one flipped byte is rejected with DataLossError;
- reads CSV files with pandas and JSON Lines with pandas.

TFDV's check of the same exports is check_tfdv.py (it needs an interpreter of its own).

Prints one "OK <dir>: ..." line per folder; any failure raises.
"""

import collections
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

try:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
except ImportError:  # the small parser below is used instead
    schema_pb2 = None


# --- schema.pbtxt -------------------------------------------------------------------------

TOKEN = re.compile(r'\s*(?:#[^\n]*\n\s*)*("(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+)')


def _unescape(literal):
    """Protobuf text-format string literal -> str (octal and simple escapes, UTF-8)."""
    body = literal[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return body.encode("latin-1").decode("utf-8")


def parse_pbtxt(text):
    """A minimal protobuf text-format parser: message -> {field: [values]}."""
    tokens = [m.group(1) for m in TOKEN.finditer(text)]
    pos = 0

    def message(end):
        nonlocal pos
        out = collections.defaultdict(list)
        while pos < len(tokens) and tokens[pos] != end:
            name = tokens[pos]
            pos += 1
            if tokens[pos] == ":":
                pos += 1
            if tokens[pos] == "{":
                pos += 1
                out[name].append(message("}"))
                pos += 1
            else:
                value = tokens[pos]
                pos += 1
                out[name].append(_unescape(value) if value.startswith('"') else value)
        return out

    return message(None)


def schema_features(text):
    """[(name, type, always_one, shape_dims or None, (min, max) value count or None)],
    string domains {name: [values]}, per-feature domain name / int range."""
    root = parse_pbtxt(text)
    feats = []
    for f in root["feature"]:
        presence = (f.get("presence") or [{}])[0]
        min_fraction = float((presence.get("min_fraction") or ["0"])[0])
        shape = None
        if f.get("shape"):
            shape = [int(d["size"][0]) for d in f["shape"][0].get("dim", [])]
        vc = None
        if f.get("value_count"):
            v = f["value_count"][0]
            vc = (int(v["min"][0]), int(v["max"][0]))
        int_range = None
        if f.get("int_domain"):
            d = f["int_domain"][0]
            int_range = (int(d["min"][0]), int(d["max"][0]))
        feats.append(
            {
                "name": f["name"][0],
                "type": f["type"][0],
                "min_fraction": min_fraction,
                "shape": shape,
                "value_count": vc,
                "domain": (f.get("domain") or [None])[0],
                "int_domain": int_range,
            }
        )
    domains = {d["name"][0]: list(d.get("value", [])) for d in root["string_domain"]}
    return feats, domains


def schema_features_tfmd(text):
    """The same, read with tensorflow_metadata's real Schema proto."""
    schema = text_format.Parse(text, schema_pb2.Schema())
    feats = []
    for f in schema.feature:
        feats.append(
            {
                "name": f.name,
                "type": schema_pb2.FeatureType.Name(f.type),
                "min_fraction": f.presence.min_fraction,
                "shape": [d.size for d in f.shape.dim] if f.HasField("shape") else None,
                "value_count": (f.value_count.min, f.value_count.max)
                if f.HasField("value_count")
                else None,
                "domain": f.domain if f.HasField("domain") else None,
                "int_domain": (f.int_domain.min, f.int_domain.max)
                if f.HasField("int_domain")
                else None,
            }
        )
    domains = {d.name: list(d.value) for d in schema.string_domain}
    return feats, domains


DTYPES = {"BYTES": tf.string, "INT": tf.int64, "FLOAT": tf.float32}


def feature_spec(feats):
    spec = {}
    for f in feats:
        dtype = DTYPES[f["type"]]
        if f["shape"] is not None and f["min_fraction"] == 1.0:
            spec[f["name"]] = tf.io.FixedLenFeature(f["shape"], dtype)
        else:
            spec[f["name"]] = tf.io.VarLenFeature(dtype)
    return spec


def values(parsed, name):
    t = parsed[name]
    if isinstance(t, tf.SparseTensor):
        t = t.values
    return t.numpy().tolist()


# --- checks -------------------------------------------------------------------------------


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def compression(path):
    return "GZIP" if path.endswith(".gz") else ""


def check_tfrecords(root, manifest, feats, domains):
    spec = feature_spec(feats)
    by_name = {f["name"]: f for f in feats}
    keys = manifest["features"]
    label_map = manifest["label_map"]
    tally = collections.defaultdict(collections.Counter)
    counts = collections.Counter()
    for entry in manifest["files"]:
        path = os.path.join(root, entry["path"])
        split = entry["path"].split("/")[0]
        n = 0
        for raw in tf.data.TFRecordDataset([path], compression_type=compression(path)):
            parsed = tf.io.parse_single_example(raw, spec)
            n += 1
            labels = values(parsed, keys["label"])
            texts = [t.decode("utf-8") for t in values(parsed, keys["label_text"])]
            assert labels, f"{path}: a record without a label"
            assert texts == [label_map[i] for i in labels], (path, labels, texts)
            for t in texts:
                tally[split][t] += 1
            counts[split] += 1
            for name, f in by_name.items():
                got = values(parsed, name)
                if f["value_count"] is not None and got:
                    lo, hi = f["value_count"]
                    assert lo <= len(got) <= hi, (path, name, got)
                if f["int_domain"] is not None:
                    lo, hi = f["int_domain"]
                    assert all(lo <= v <= hi for v in got), (path, name, got)
                if f["domain"] is not None:
                    allowed = set(domains[f["domain"]])
                    assert all(v.decode("utf-8") in allowed for v in got), (path, name, got)
            if "image" in keys:
                fmt = values(parsed, keys["format"])[0].decode()
                if fmt in ("jpeg", "png", "gif", "bmp"):
                    img = tf.io.decode_image(
                        values(parsed, keys["image"])[0], expand_animations=False
                    )
                    assert img.shape[0] == values(parsed, keys["height"])[0], path
                    assert img.shape[1] == values(parsed, keys["width"])[0], path
        assert n == entry["records"], (path, n, entry["records"])
        assert sha256(path) == entry["sha256"], path
    for split, s in manifest["splits"].items():
        assert counts[split] == s["count"], (split, counts[split], s["count"])
        for cls, c in s["classes"].items():
            assert tally[split][cls] == c, (split, cls, tally[split][cls], c)
    return sum(counts.values())


def expect_data_loss(path, payload, where):
    """Writes `payload` (TFRecord bytes) to a copy and expects TensorFlow to refuse it."""
    tmp = tempfile.mkdtemp()
    try:
        copy = os.path.join(tmp, os.path.basename(path))
        with open(copy, "wb") as f:
            f.write(gzip.compress(payload, mtime=0) if path.endswith(".gz") else payload)
        try:
            for _ in tf.data.TFRecordDataset([copy], compression_type=compression(copy)):
                pass
        except tf.errors.DataLossError:
            return
        raise AssertionError(f"{path}: a flipped byte in the {where} was not detected")
    finally:
        shutil.rmtree(tmp)


def check_corruption(root, manifest):
    entry = next(e for e in manifest["files"] if e["records"] > 0)
    path = os.path.join(root, entry["path"])
    with open(path, "rb") as f:
        raw = f.read()
    data = gzip.decompress(raw) if path.endswith(".gz") else raw
    length = int.from_bytes(data[:8], "little")
    for offset, where in [(12 + length // 2, "record data"), (3, "record length")]:
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        expect_data_loss(path, bytes(flipped), where)


def check_table(root, manifest, feats, reader):
    names = [f["name"] for f in feats]
    total = 0
    for entry in manifest["files"]:
        path = os.path.join(root, entry["path"])
        assert sha256(path) == entry["sha256"], path
        if os.path.getsize(path) == 0:
            assert entry["records"] == 0, path
            continue
        frame = reader(path)
        assert len(frame) == entry["records"], (path, len(frame), entry["records"])
        if reader is read_csv:
            assert list(frame.columns) == names, (path, list(frame.columns), names)
        else:
            assert set(frame.columns) <= set(names), (path, list(frame.columns))
        split = entry["path"].split("/")[0]
        assert len(frame) == manifest["splits"][split]["count"], path
        for f in feats:
            if f["type"] == "INT" and f["min_fraction"] == 1.0:
                assert pd.api.types.is_integer_dtype(frame[f["name"]]), (path, f["name"])
            if f["type"] == "FLOAT" and f["name"] in frame:
                assert pd.api.types.is_float_dtype(frame[f["name"]]), (path, f["name"])
        total += len(frame)
    return total


def read_csv(path):
    return pd.read_csv(path)


def read_jsonl(path):
    return pd.read_json(path, lines=True)


def check(root):
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(root, "schema.pbtxt"), encoding="utf-8") as f:
        schema_text = f.read()
    feats, domains = schema_features(schema_text)
    if schema_pb2 is not None:
        assert schema_features_tfmd(schema_text) == (feats, domains), "schema parsers disagree"
    assert domains.get("label_text", manifest["label_map"]) == manifest["label_map"]
    total = sum(s["count"] for s in manifest["splits"].values())
    fmt = manifest["format"]
    if fmt == "tfrecord":
        for e in manifest["files"]:
            assert re.fullmatch(r"[^/]+/data-\d{5}-of-\d{5}\.tfrecord(\.gz)?", e["path"]), e
        n = check_tfrecords(root, manifest, feats, domains)
        check_corruption(root, manifest)
    elif fmt == "csv":
        n = check_table(root, manifest, feats, read_csv)
    elif fmt == "jsonl":
        n = check_table(root, manifest, feats, read_jsonl)
    else:
        raise AssertionError(f"unknown format {fmt}")
    assert n == total, (root, n, total)
    extra = " (schema read with tensorflow_metadata)" if schema_pb2 is not None else ""
    print(f"OK {root}: {fmt}, {n} records in {len(manifest['files'])} files{extra}")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    for root in argv[1:]:
        check(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
