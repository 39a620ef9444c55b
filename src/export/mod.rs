//! Exporting a validated dataset: TFRecord of `tf.train.Example`, CSV and JSON Lines, with `schema.pbtxt` and `manifest.json`.
