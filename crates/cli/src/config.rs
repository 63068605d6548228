//! `--config FILE`: a TOML file of defaults for a command's options.
//!
//! Why through the environment: every option of a service already has a
//! `FUNDLEDGER_*` variable, and clap resolves flag, then variable, then
//! default. Before clap parses, each `key = value` of the file is put in the
//! option's variable unless that variable is already set, so the order is
//! flag > environment > file > built-in default for every option, including
//! options that other parts of the CLI add later, with no list to keep in step.
//! This runs before the async runtime starts, while the process has one thread.
//!
//! Keys are the options' names with `_` (`data_dir`, `http`, `replicas`) or
//! `-`; an unknown key, or one naming an option without a variable, is an
//! error that lists the keys the command takes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The flag that names the file, and its variable.
pub const CONFIG_FLAG: &str = "--config";
pub const CONFIG_ENV: &str = "FUNDLEDGER_CONFIG";
/// The largest config file read.
pub const CONFIG_BYTES_MAX: u64 = 1024 * 1024;

/// Applies the config file named on the command line (`--config FILE` or
/// `--config=FILE`) or by `$FUNDLEDGER_CONFIG`, if the subcommand takes one.
pub fn apply(command: &clap::Command, args: &[OsString]) -> Result<()> {
    let Some(subcommand) = find_subcommand(command, args) else { return Ok(()) };
    if !subcommand.get_arguments().any(|arg| arg.get_id() == "config") {
        return Ok(());
    }
    let path = match config_path_from_args(args) {
        Some(path) => path,
        None => match std::env::var_os(CONFIG_ENV) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => return Ok(()),
        },
    };
    for (variable, value) in settings(command, subcommand, &path)? {
        if std::env::var_os(&variable).is_none() {
            // Single-threaded here (see the module docs), so setting is sound.
            std::env::set_var(&variable, value);
        }
    }
    Ok(())
}

/// The options a config file may set for `subcommand`: its own, and the
/// global ones of `command` (`log_format`), each with a variable.
fn options<'a>(command: &'a clap::Command, subcommand: &'a clap::Command) -> impl Iterator<Item = &'a clap::Arg> {
    let global = command.get_arguments().filter(|arg| arg.is_global_set());
    subcommand.get_arguments().chain(global).filter(|arg| arg.get_id() != "config")
}

/// The `(variable, value)` pairs a config file sets for `subcommand`'s options.
pub fn settings(command: &clap::Command, subcommand: &clap::Command, path: &Path) -> Result<Vec<(String, String)>> {
    let size = std::fs::metadata(path).with_context(|| format!("cannot read the config file {}", path.display()))?.len();
    if size > CONFIG_BYTES_MAX {
        bail!("config file {} is {size} bytes; at most {CONFIG_BYTES_MAX} are read", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("config file {} is not valid TOML", path.display()))?;
    let mut pairs = Vec::with_capacity(table.len());
    for (key, value) in table {
        let name = key.replace('-', "_");
        let Some(arg) = options(command, subcommand).find(|arg| arg.get_id() == name.as_str()) else {
            bail!("config file {}: unknown key `{key}`; `{}` takes: {}", path.display(), subcommand.get_name(), known_keys(command, subcommand).join(", "));
        };
        let Some(variable) = arg.get_env() else {
            bail!("config file {}: option `{key}` cannot be set from a file", path.display());
        };
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => bail!("config file {}: `{key}` must be a string, number or boolean, not {}", path.display(), other.type_str()),
        };
        pairs.push((variable.to_string_lossy().into_owned(), value));
    }
    Ok(pairs)
}

/// The keys a config file may hold for `subcommand`.
pub fn known_keys(command: &clap::Command, subcommand: &clap::Command) -> Vec<String> {
    options(command, subcommand).filter(|arg| arg.get_env().is_some()).map(|arg| arg.get_id().to_string()).collect()
}

/// The subcommand named on the command line (global flags, and their values, may come first).
fn find_subcommand<'a>(command: &'a clap::Command, args: &[OsString]) -> Option<&'a clap::Command> {
    let takes_value = |flag: &str| command.get_arguments().any(|arg| arg.get_long() == Some(flag) && arg.get_action().takes_values());
    let mut words = args.iter().skip(1).filter_map(|arg| arg.to_str());
    while let Some(word) = words.next() {
        match word.strip_prefix("--") {
            Some(flag) if takes_value(flag) => {
                words.next();
            }
            Some(_) => {}
            None if word.starts_with('-') => {}
            None => return command.find_subcommand(word),
        }
    }
    None
}

fn config_path_from_args(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == CONFIG_FLAG {
            return iter.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn serve() -> Command {
        Command::new("fundledger").arg(Arg::new("log_format").long("log-format").env("FUNDLEDGER_TEST_LOG_FORMAT").global(true)).subcommand(
            Command::new("serve")
                .arg(Arg::new("config").long("config").env(CONFIG_ENV))
                .arg(Arg::new("data_dir").long("data-dir").env("FUNDLEDGER_TEST_DATA_DIR"))
                .arg(Arg::new("replicas").long("replicas").env("FUNDLEDGER_TEST_REPLICAS"))
                .arg(Arg::new("plain").long("plain")),
        )
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temporary file");
        std::fs::write(file.path(), text).expect("writes");
        file
    }

    #[test]
    fn keys_map_to_their_variables() {
        let command = serve();
        let serve = command.find_subcommand("serve").expect("serve");
        let config = file("data_dir = \"/srv/fl\"\nreplicas = 3\nlog_format = \"json\"\n");
        let mut pairs = settings(&command, serve, config.path()).expect("valid");
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("FUNDLEDGER_TEST_DATA_DIR".into(), "/srv/fl".into()),
                ("FUNDLEDGER_TEST_LOG_FORMAT".into(), "json".into()),
                ("FUNDLEDGER_TEST_REPLICAS".into(), "3".into())
            ]
        );
        let dashed = file("data-dir = \"/x\"\n");
        assert_eq!(settings(&command, serve, dashed.path()).expect("valid")[0].1, "/x");
    }

    #[test]
    fn unknown_or_unsettable_keys_and_bad_toml_are_errors() {
        let command = serve();
        let serve = command.find_subcommand("serve").expect("serve");
        let error = settings(&command, serve, file("colour = \"red\"\n").path()).unwrap_err().to_string();
        assert!(error.contains("unknown key `colour`") && error.contains("data_dir, replicas, log_format"), "{error}");
        let error = settings(&command, serve, file("plain = \"x\"\n").path()).unwrap_err().to_string();
        assert!(error.contains("cannot be set from a file"), "{error}");
        let error = settings(&command, serve, file("data_dir = [1]\n").path()).unwrap_err().to_string();
        assert!(error.contains("must be a string"), "{error}");
        assert!(settings(&command, serve, file("data_dir = ").path()).unwrap_err().to_string().contains("not valid TOML"));
        assert!(settings(&command, serve, Path::new("/nonexistent/fundledger.toml")).is_err());
    }

    #[test]
    fn the_config_path_is_found_on_the_command_line() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(config_path_from_args(&args(&["fl", "serve", "--config", "a.toml"])), Some(PathBuf::from("a.toml")));
        assert_eq!(config_path_from_args(&args(&["fl", "serve", "--config=b.toml"])), Some(PathBuf::from("b.toml")));
        assert_eq!(config_path_from_args(&args(&["fl", "serve", "--", "--config", "c"])), None);
        let command = serve();
        assert_eq!(find_subcommand(&command, &args(&["fl", "-v", "serve", "--config", "x"])).map(Command::get_name), Some("serve"));
        assert_eq!(find_subcommand(&command, &args(&["fl", "--log-format", "json", "serve"])).map(Command::get_name), Some("serve"));
        assert_eq!(find_subcommand(&command, &args(&["fl", "--log-format=json", "serve"])).map(Command::get_name), Some("serve"));
        assert!(find_subcommand(&command, &args(&["fl", "--help"])).is_none());
    }
}
