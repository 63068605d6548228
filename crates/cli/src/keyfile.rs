//! Key files: one ed25519 key per JSON file, `{"holder", "public", "secret"}`,
//! written with owner-only permissions. The secret never leaves the machine:
//! the CLI signs locally and submits only signatures.

use std::path::Path;

use anyhow::{bail, Context, Result};
use fundledger_core::crypto::{KeyId, SecretKey};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub holder: String,
    pub public: String,
    pub secret: String,
}

/// Generates a key from the operating system's randomness.
pub fn generate() -> Result<SecretKey> {
    let mut secret = [0u8; 32];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut secret).context("the operating system's random number generator failed")?;
    Ok(SecretKey::from_bytes(&secret))
}

pub fn write(path: &Path, key: &SecretKey, holder: &str, overwrite: bool) -> Result<()> {
    if path.exists() && !overwrite {
        bail!("{} already exists; refusing to overwrite a key (use --force to replace it)", path.display());
    }
    let file = KeyFile { holder: holder.to_string(), public: key.key_id().to_string(), secret: key.to_hex() };
    let json = serde_json::to_string_pretty(&file)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut handle = options.open(path).with_context(|| format!("cannot create key file {}", path.display()))?;
    handle.write_all(json.as_bytes()).with_context(|| format!("cannot write key file {}", path.display()))?;
    Ok(())
}

pub fn read(path: &Path) -> Result<(SecretKey, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text).with_context(|| format!("{} is not a fundledger key file", path.display()))?;
    let key = SecretKey::from_hex(&file.secret).with_context(|| format!("{}: bad secret", path.display()))?;
    if key.key_id().to_string() != file.public {
        bail!("{}: the public key does not match the secret key; the file is damaged", path.display());
    }
    Ok((key, file.holder))
}

/// A public key given as hex, or as a key file (its public part is used).
pub fn public_key(text: &str) -> Result<KeyId> {
    if let Ok(key) = KeyId::parse(text) {
        return Ok(key);
    }
    let path = Path::new(text);
    if path.exists() {
        let body = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        #[derive(Deserialize)]
        struct PublicOnly {
            public: String,
        }
        let file: PublicOnly = serde_json::from_str(&body).with_context(|| format!("{} is not a key file", path.display()))?;
        return KeyId::parse(&file.public).with_context(|| format!("{}: bad public key", path.display()));
    }
    bail!("{text:?} is neither a 64-character hex public key nor a key file")
}
