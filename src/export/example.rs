//! `tf.train.Example` as `prost` messages, written by hand from TensorFlow's
//! `example.proto` / `feature.proto` so that no `protoc` or build script is needed.
//!
//! Field numbers and wire types are those of TensorFlow; repeated numbers are packed, as
//! `feature.proto` declares. Features are kept in a `BTreeMap`, so an Example with the same
//! content always encodes to the same bytes (the export is byte-reproducible).

use std::collections::BTreeMap;

/// `tensorflow.Example`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Example {
    #[prost(message, optional, tag = "1")]
    pub features: Option<Features>,
}

/// `tensorflow.Features`: feature key to values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Features {
    #[prost(btree_map = "string, message", tag = "1")]
    pub feature: BTreeMap<String, Feature>,
}

/// `tensorflow.Feature`: one of three value lists.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Feature {
    #[prost(oneof = "Kind", tags = "1, 2, 3")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    BytesList(BytesList),
    #[prost(message, tag = "2")]
    FloatList(FloatList),
    #[prost(message, tag = "3")]
    Int64List(Int64List),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BytesList {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub value: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FloatList {
    #[prost(float, repeated, tag = "1")]
    pub value: Vec<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Int64List {
    #[prost(int64, repeated, tag = "1")]
    pub value: Vec<i64>,
}

impl Feature {
    pub fn bytes(values: Vec<Vec<u8>>) -> Feature {
        Feature {
            kind: Some(Kind::BytesList(BytesList { value: values })),
        }
    }

    pub fn floats(values: Vec<f32>) -> Feature {
        Feature {
            kind: Some(Kind::FloatList(FloatList { value: values })),
        }
    }

    pub fn ints(values: Vec<i64>) -> Feature {
        Feature {
            kind: Some(Kind::Int64List(Int64List { value: values })),
        }
    }
}

impl Example {
    pub fn from_features(feature: BTreeMap<String, Feature>) -> Example {
        Example {
            features: Some(Features { feature }),
        }
    }

    /// The Example's wire bytes, appended to `buf` (cleared first).
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.clear();
        self.append_to(buf, 0);
    }

    /// Appends the Example's wire bytes to `buf`, with room for `spare` more bytes.
    pub fn append_to(&self, buf: &mut Vec<u8>, spare: usize) {
        use prost::Message;
        buf.reserve(self.encoded_len() + spare);
        // Encoding into a Vec only fails when capacity is short, which `reserve` rules out.
        self.encode(buf).expect("a Vec grows as needed");
    }
}
