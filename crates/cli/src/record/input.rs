//! Reading the files commands are given: a path, or `-` for standard input
//! (submissions, bodies to sign), and `--terms` files of published terms.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context, Result};

pub fn read_input(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn read_terms<T: serde::de::DeserializeOwned>(path: &Path, event_type: &str) -> Result<T> {
    let text = read_input(path).context("--terms")?;
    serde_json::from_str(&text).with_context(|| format!("--terms {}: not the data of a {event_type} event (see schemas/ for its JSON Schema)", path.display()))
}
