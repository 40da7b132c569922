//! The API key, as a type that cannot be printed.

use std::fmt;
use std::path::Path;

/// An API key. `Debug` and `Display` print `<redacted>`, so the key cannot
/// reach a log line, an error or a panic message by accident; the only way
/// to the secret is [`ApiKey::expose`], called where the header is set.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(secret: impl Into<String>) -> ApiKey {
        ApiKey(secret.into())
    }

    /// Reads the key from the environment variable `name`.
    ///
    /// # Errors
    ///
    /// The variable is unset or empty; the message names the variable only.
    pub fn from_env(name: &str) -> Result<ApiKey, String> {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(ApiKey(value.trim().to_owned())),
            Ok(_) => Err(format!(
                "environment variable {name} is empty; set it to the API key"
            )),
            Err(_) => Err(format!(
                "environment variable {name} is not set; set it to the API key"
            )),
        }
    }

    /// Reads the key from a file (a mounted secret); surrounding white space
    /// is dropped.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is empty; the message never quotes it.
    pub fn from_file(path: &Path) -> Result<ApiKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the API key file {}: {e}", path.display()))?;
        let key = text.trim();
        if key.is_empty() {
            return Err(format!("the API key file {} is empty", path.display()));
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The secret itself, for the request header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new("sk_live_secret");
        assert!(!format!("{key:?} {key} {:#?}", Some(&key)).contains("sk_live"));
        assert_eq!(key.expose(), "sk_live_secret");
    }
}
