//! Prints the embeddings of the texts given after a model directory, one JSON array per line:
//! `cargo run --release -p lingxi-embed --example embed -- DIR "text" …`

use lingxi_nlp::SentenceEncoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: embed DIR TEXT…")?;
    let texts: Vec<String> = args.collect();
    let encoder = lingxi_embed::BertEncoder::load(std::path::Path::new(&dir))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for v in encoder.encode_batch(&refs) {
        println!("{}", serde_json::to_string(&v)?);
    }
    Ok(())
}
