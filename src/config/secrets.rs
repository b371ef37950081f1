//! What the configuration names on disk: secret files and private keys,
//! read once at launch.

use super::{ConfigError, OidcConfig, TokenEndpointAuthMethod};
use crate::client_key::PrivateKey;
use crate::jose::Alg;
use crate::secret::ClientSecret;
impl OidcConfig {
    /// Reads the private keys of `private_key_jwt` and checks the client
    /// authentication keys; the problems name the key.
    pub(super) fn read_private_keys(&mut self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        for (name, provider) in &mut self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            let mut problem = |k: &str, message: String| problems.push(ConfigError { key: key(k), message });
            let method = provider.token_endpoint_auth_method;
            let private = method == TokenEndpointAuthMethod::PrivateKeyJwt;
            match (&provider.private_key_path, &provider.private_key_jwk) {
                (Some(_), Some(_)) => problem(
                    "private_key_jwk",
                    "cannot be combined with `private_key_path`: give one of the two".into(),
                ),
                (None, None) if private => problem(
                    "private_key_path",
                    "is required with `token_endpoint_auth_method = \"private_key_jwt\"` (or give `private_key_jwk`)"
                        .into(),
                ),
                (Some(_), None) if !private => problem(
                    "private_key_path",
                    "is used only with `token_endpoint_auth_method = \"private_key_jwt\"`".into(),
                ),
                (None, Some(_)) if !private => problem(
                    "private_key_jwk",
                    "is used only with `token_endpoint_auth_method = \"private_key_jwt\"`".into(),
                ),
                (Some(path), None) => match std::fs::read_to_string(path) {
                    Ok(pem) => match PrivateKey::from_pem(&pem) {
                        Ok(read) => provider.private_key = Some(std::sync::Arc::new(read)),
                        Err(why) => problem("private_key_path", format!("{}: {why}", path.display())),
                    },
                    Err(error) => problem(
                        "private_key_path",
                        format!("{}: cannot be read ({error})", path.display()),
                    ),
                },
                (None, Some(jwk)) => match PrivateKey::from_jwk(jwk.secret()) {
                    Ok(read) => provider.private_key = Some(std::sync::Arc::new(read)),
                    Err(why) => problem("private_key_jwk", why),
                },
                (None, None) => {}
            }
            if provider.registration.is_some() && private {
                problem(
                    "token_endpoint_auth_method",
                    "\"private_key_jwt\" needs a static `client_id` (dynamic registration registers client_secret_basic)"
                        .into(),
                );
            }
            if let Some(alg) = &provider.token_endpoint_auth_signing_alg {
                let fits = match (Alg::named(alg), method) {
                    (Some(alg), TokenEndpointAuthMethod::PrivateKeyJwt) => {
                        provider.private_key.as_ref().is_none_or(|key| key.signs_with(alg))
                    }
                    (Some(Alg::Hs256), TokenEndpointAuthMethod::ClientSecretJwt) => true,
                    _ => false,
                };
                if !fits {
                    problem(
                        "token_endpoint_auth_signing_alg",
                        format!(
                            "\"{alg}\" does not fit: RS256 or PS256 for an RSA key, ES256 for an EC key (with \
                             private_key_jwt), HS256 with client_secret_jwt"
                        ),
                    );
                }
            }
        }
        problems
    }

    /// Reads the secrets given as files into their values; the problems
    /// name the key of the file.
    pub(super) fn read_secret_files(&mut self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        for (name, provider) in &mut self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            let registration = provider.registration.as_mut();
            let files = [(
                &mut provider.client_secret,
                &provider.client_secret_file,
                key("client_secret_file"),
                "client_secret",
            )]
            .into_iter()
            .chain(registration.map(|registration| {
                (
                    &mut registration.initial_access_token,
                    &registration.initial_access_token_file,
                    key("registration.initial_access_token_file"),
                    "initial_access_token",
                )
            }));
            for (value, file, file_key, value_key) in files {
                let Some(path) = file else {
                    continue;
                };
                if value.is_some() {
                    problems.push(ConfigError {
                        key: file_key,
                        message: format!("cannot be combined with `{value_key}`: give one of the two"),
                    });
                    continue;
                }
                match read_secret(path) {
                    Ok(secret) => *value = Some(ClientSecret::new(secret)),
                    Err(message) => problems.push(ConfigError { key: file_key, message }),
                }
            }
        }
        problems
    }
}

/// Turns figment's errors into errors that name the full key.
/// The secret in the file at `path`, without the line break that usually
/// ends such a file; the error says why it cannot be used (never its content).
fn read_secret(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_string())
}
