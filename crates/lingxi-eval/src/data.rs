//! Reading labelled CSV files.

use std::path::Path;

use anyhow::{Context, bail};

/// One labelled row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub text: String,
    pub label: String,
}

/// Reads a UTF-8 CSV with a header containing `text` and `label` (other columns are ignored).
pub(crate) fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(t), Some(l)) = (find("text"), find("label")) else {
        bail!("{} has no `text` and `label` columns", path.display());
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("bad CSV row in {}", path.display()))?;
        let text = record.get(t).unwrap_or_default().to_string();
        let label = record.get(l).unwrap_or_default().trim().to_string();
        rows.push(Row { text, label });
    }
    Ok(rows)
}
