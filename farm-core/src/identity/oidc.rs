//! OpenID Connect, as a relying party: discovery, the authorization code flow with PKCE, and
//! full validation of the ID token (issuer, audience, expiry, nonce, signature with the
//! provider's keys). A token signed with a key the farm has not seen makes it fetch the
//! provider's key set again, once, so key rotation needs nothing from the operator.
//!
//! The protocol is the `openidconnect` crate's; HTTP goes through reqwest (rustls), which
//! never follows redirects here (a redirect from a provider's endpoint is an error, not a
//! way to make the farm fetch another address).

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError,
};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::OidcProviderConfig;
use crate::domain::Secret;

/// How long discovered metadata is used before it is read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Time-out of each request to the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// ID tokens are signed with one of these (never `none`, never a MAC with the client secret).
const ALLOWED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Why a login through a provider did not work. `Refused` is the provider's (or an
/// attacker's) answer failing a check; `Unavailable` is the provider not answering usefully.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    #[error("the identity provider could not be reached: {0}")]
    Unavailable(String),
}

impl OidcError {
    fn refused(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Refused { code, detail: detail.into() }
    }
}

/// What the provider vouches for, once every check passed: the ID token's claims, with the
/// UserInfo endpoint's for those the ID token lacks.
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    pub subject: String,
    pub claims: serde_json::Map<String, Value>,
}

impl VerifiedClaims {
    /// A claim as a string (numbers too), if present and not empty.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `email_verified`: true only when the provider says so (a boolean, or the string "true"
    /// some providers send).
    pub fn email_verified(&self) -> bool {
        matches!(self.claims.get("email_verified"), Some(Value::Bool(true)))
            || matches!(self.claims.get("email_verified"), Some(Value::String(s)) if s == "true")
    }

    /// The values of a claim that holds a string or a list of strings.
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.claims.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }
}

/// The start of a login: where to send the browser, and what the callback needs (kept by the
/// caller server-side, never in the browser).
pub struct AuthorizationStart {
    pub url: String,
    pub state: String,
    pub nonce: Secret,
    pub pkce_verifier: Secret,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    at: Instant,
}

/// One configured provider, with its discovered metadata and keys cached.
pub struct OidcProvider {
    pub config: OidcProviderConfig,
    client_secret: Secret,
    http: reqwest::Client,
    discovered: Mutex<Option<Discovered>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider").field("id", &self.config.id).field("issuer", &self.config.issuer).finish()
    }
}

impl OidcProvider {
    pub fn new(config: OidcProviderConfig, client_secret: Secret) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .user_agent("farmd")
            .build()?;
        IssuerUrl::new(config.issuer.clone())?;
        Ok(Self { config, client_secret, http, discovered: Mutex::new(None) })
    }

    /// The provider's metadata (and keys), from the cache or discovered now.
    async fn metadata(&self, refresh_keys: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.discovered.lock().await;
        let fresh = cached.as_ref().is_some_and(|d| d.at.elapsed() < METADATA_TTL);
        if !fresh {
            let issuer =
                IssuerUrl::new(self.config.issuer.clone()).map_err(|e| OidcError::Unavailable(e.to_string()))?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| OidcError::Unavailable(format!("discovery: {}", error_chain(&e))))?;
            *cached = Some(Discovered { metadata, at: Instant::now() });
        } else if refresh_keys {
            if let Some(discovered) = cached.as_mut() {
                let jwks = CoreJsonWebKeySet::fetch_async(discovered.metadata.jwks_uri(), &self.http)
                    .await
                    .map_err(|e| OidcError::Unavailable(format!("key set: {}", error_chain(&e))))?;
                tracing::info!(provider = %self.config.id, keys = jwks.keys().len(), "fetched the provider's keys again");
                discovered.metadata = discovered.metadata.clone().set_jwks(jwks);
            }
        }
        cached.as_ref().map(|d| d.metadata.clone()).ok_or_else(|| OidcError::Unavailable("no metadata".into()))
    }

    fn client_id(&self) -> ClientId {
        ClientId::new(self.config.client_id.clone())
    }

    fn secret(&self) -> ClientSecret {
        ClientSecret::new(self.client_secret.expose().to_owned())
    }

    /// Starts a login: a fresh state, nonce and PKCE verifier, and the authorization URL.
    pub async fn start(&self, redirect_uri: &str) -> Result<AuthorizationStart, OidcError> {
        let metadata = self.metadata(false).await?;
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| OidcError::Unavailable(format!("redirect: {e}")))?;
        let client = CoreClient::from_provider_metadata(metadata, self.client_id(), Some(self.secret()))
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = crate::platform::random::random_hex(32);
        let nonce = crate::platform::random::random_hex(32);
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state,
            nonce: Secret::new(nonce),
            pkce_verifier: Secret::new(verifier.secret().to_owned()),
        })
    }

    /// Finishes a login: trades the code (with the PKCE verifier) for tokens and checks the ID
    /// token against the nonce of this login.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &Secret,
        nonce: &Secret,
    ) -> Result<VerifiedClaims, OidcError> {
        let metadata = self.metadata(false).await?;
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| OidcError::Unavailable(format!("redirect: {e}")))?;
        let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(metadata.clone(), self.client_id(), Some(self.secret()))
            .set_redirect_uri(redirect);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().to_owned()));
        let response = request.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) => {
                OidcError::refused("oidc_code_rejected", format!("the token endpoint said {}", answer.error()))
            }
            RequestTokenError::Request(err) => OidcError::Unavailable(format!("token endpoint: {}", error_chain(&err))),
            other => OidcError::refused("oidc_token_invalid", format!("token endpoint: {}", error_chain(&other))),
        })?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| OidcError::refused("oidc_token_invalid", "the provider sent no ID token"))?
            .clone();
        let nonce = Nonce::new(nonce.expose().to_owned());
        let verify = |metadata: &CoreProviderMetadata| {
            let verifier = CoreIdTokenVerifier::new_confidential_client(
                self.client_id(),
                self.secret(),
                metadata.issuer().clone(),
                metadata.jwks().clone(),
            )
            .set_allowed_algs(ALLOWED_ALGS.iter().cloned());
            id_token.claims(&verifier, &nonce).map(|claims| claims.subject().to_string())
        };
        let subject = match verify(&metadata) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // A key the farm has not seen: the provider may have rotated its keys.
                let metadata = self.metadata(true).await?;
                verify(&metadata)
            }
            other => other,
        }
        .map_err(refusal)?;
        let mut claims = jwt_payload(&id_token.to_string())
            .ok_or_else(|| OidcError::refused("oidc_token_invalid", "the ID token's claims do not parse"))?;
        let wanted = [&self.config.username_claim, &self.config.email_claim, &self.config.groups_claim];
        if wanted.iter().any(|claim| !claims.contains_key(claim.as_str())) {
            if let Some(url) = userinfo_url {
                let extra = self.userinfo(url, response.access_token().secret(), &subject).await?;
                for (key, value) in extra {
                    claims.entry(key).or_insert(value);
                }
            }
        }
        Ok(VerifiedClaims { subject, claims })
    }

    /// The UserInfo endpoint's claims, if it answers with JSON about the same subject.
    async fn userinfo(
        &self,
        url: openidconnect::url::Url,
        access_token: &str,
        subject: &str,
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("userinfo: {}", error_chain(&e))))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!("userinfo answered {}", response.status())));
        }
        let Ok(Value::Object(claims)) = response.json::<Value>().await else {
            return Ok(serde_json::Map::new());
        };
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(OidcError::refused("oidc_token_invalid", "userinfo is about another subject"));
        }
        Ok(claims)
    }
}

/// The refusal for a failed check of the ID token.
fn refusal(err: ClaimsVerificationError) -> OidcError {
    let code = match &err {
        ClaimsVerificationError::Expired(_) => "oidc_token_expired",
        ClaimsVerificationError::InvalidAudience(_) => "oidc_wrong_audience",
        ClaimsVerificationError::InvalidIssuer(_) => "oidc_wrong_issuer",
        ClaimsVerificationError::InvalidNonce(_) => "oidc_nonce_mismatch",
        ClaimsVerificationError::SignatureVerification(_) => "oidc_bad_signature",
        _ => "oidc_token_invalid",
    };
    OidcError::refused(code, error_chain(&err))
}

/// The claims of a compact JWS (whose signature was checked already).
fn jwt_payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// An error with its causes, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_leniently_but_email_verified_strictly() {
        let claims =
            |json: Value| VerifiedClaims { subject: "s".into(), claims: json.as_object().cloned().expect("object") };
        let c = claims(serde_json::json!({
            "preferred_username": " alice ", "email_verified": "true", "groups": ["a", 3, "b"], "n": 7, "e": ""
        }));
        assert_eq!(c.string("preferred_username").as_deref(), Some("alice"));
        assert_eq!(c.string("n").as_deref(), Some("7"));
        assert_eq!(c.string("e"), None);
        assert!(c.email_verified());
        assert_eq!(c.strings("groups"), ["a", "b"]);
        assert_eq!(claims(serde_json::json!({"groups": "x"})).strings("groups"), ["x"]);
        for unverified in [
            serde_json::json!({}),
            serde_json::json!({"email_verified": false}),
            serde_json::json!({"email_verified": "yes"}),
            serde_json::json!({"email_verified": 1}),
        ] {
            assert!(!claims(unverified).email_verified());
        }
    }

    #[test]
    fn payloads_of_compact_tokens() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwt = format!("{}.{}.sig", engine.encode("{}"), engine.encode(r#"{"sub":"x","aud":"y"}"#));
        assert_eq!(jwt_payload(&jwt).expect("parses")["sub"], "x");
        assert!(jwt_payload("nodots").is_none());
        assert!(jwt_payload(&format!("a.{}.c", engine.encode("[1]"))).is_none());
    }
}
