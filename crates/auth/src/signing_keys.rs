//! Access-token keys (docs/api.md §8): the shared secret (HS256), or Ed25519 key files (EdDSA) that other services
//! can verify with. Key files are unencrypted PKCS#8 PEM, named by their UTC creation time (`20261127T101500Z.pem`);
//! the newest signs once it has been published for the delay (counted from the time in its name, so every instance
//! switches at the same moment), every one verifies, and each is known by its RFC 7638 thumbprint (`kid`).

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, TokenData, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use time::OffsetDateTime;
use users_domain::ports::{TokenError, VerificationKey};

/// How a key file's name gives its creation time: ISO 8601 basic format, UTC (sorts like the times it names).
const NAME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
const EXTENSION: &str = "pem";
const PEM_LABEL: &str = "PRIVATE KEY";

/// Why a keys folder or one of its files cannot be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    #[error("cannot read the keys folder {dir}: {source}")]
    Unreadable { dir: PathBuf, source: std::io::Error },
    #[error("the keys folder {dir} holds no key file (*.pem): create one with `users-api generate-key --dir {dir}`")]
    Empty { dir: PathBuf },
    #[error("key file {file}: its name must be its UTC creation time, like 20261127T101500Z.pem")]
    BadName { file: PathBuf },
    #[error("cannot read key file {file}: {source}")]
    UnreadableKey { file: PathBuf, source: std::io::Error },
    #[error("key file {file} is not an unencrypted PKCS#8 Ed25519 private key in PEM")]
    NotEd25519 { file: PathBuf },
}

/// Why `generate-key` could not write a key.
#[derive(Debug, thiserror::Error)]
pub enum GenerateKeyError {
    #[error("cannot create the keys folder {dir}: {source}")]
    Folder { dir: PathBuf, source: std::io::Error },
    /// A key was written in the same second: its name is taken (keys are never overwritten).
    #[error("{file} exists already")]
    Exists { file: PathBuf },
    #[error("cannot write {file}: {source}")]
    Write { file: PathBuf, source: std::io::Error },
    #[error("cannot generate an Ed25519 key")]
    Generate,
}

/// One Ed25519 key: its private half signs, its public half verifies and is published.
struct SigningKey {
    created: OffsetDateTime,
    key_id: String,
    public_key: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn from_pem(file: &Path, created: OffsetDateTime, pem: &str) -> Result<Self, KeyDirError> {
        let not_ed25519 = || KeyDirError::NotEd25519 { file: file.to_owned() };
        let der = pem_body(pem, PEM_LABEL).ok_or_else(not_ed25519)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| not_ed25519())?;
        let public_key: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| not_ed25519())?;
        Ok(Self {
            created,
            key_id: thumbprint(&public_key),
            public_key,
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_der(&public_key),
        })
    }
}

/// The base64 body of the first PEM block with this label, decoded.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let length = pem[start..].find(&end)?;
    let body: String = pem[start..start + length].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

fn to_pem(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).filter_map(|line| std::str::from_utf8(line).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, without whitespace, base64url.
fn thumbprint(public_key: &[u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public_key));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The keys of one folder, oldest first; never empty.
struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// Every `*.pem` file of `dir` (other files, and names starting with a dot, are ignored: a Kubernetes secret
    /// mount has `..data` entries). Returns the warnings to log too: key files others than their owner can read.
    fn load(dir: &Path) -> Result<(Self, Vec<String>), KeyDirError> {
        let unreadable = |source| KeyDirError::Unreadable { dir: dir.to_owned(), source };
        let mut keys = Vec::new();
        let mut warnings = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let file = entry.map_err(unreadable)?.path();
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') || file.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                continue;
            }
            let unreadable_key = |source| KeyDirError::UnreadableKey { file: file.clone(), source };
            let metadata = std::fs::metadata(&file).map_err(unreadable_key)?;
            if !metadata.is_file() {
                continue;
            }
            let stem = name.trim_end_matches(&format!(".{EXTENSION}"));
            let created = time::PrimitiveDateTime::parse(stem, NAME_FORMAT)
                .map_err(|_| KeyDirError::BadName { file: file.clone() })?
                .assume_utc();
            if readable_by_others(&metadata) {
                warnings.push(format!(
                    "key file {} is readable by others than its owner: make it readable by the owner only \
                     (chmod 600)",
                    file.display()
                ));
            }
            let pem = std::fs::read_to_string(&file).map_err(unreadable_key)?;
            keys.push(SigningKey::from_pem(&file, created, &pem)?);
        }
        if keys.is_empty() {
            return Err(KeyDirError::Empty { dir: dir.to_owned() });
        }
        keys.sort_by_key(|key| key.created);
        Ok((Self { keys }, warnings))
    }

    /// The newest key published for `delay` by `now`; until the first is, the oldest.
    fn signing(&self, now: OffsetDateTime, delay: Duration) -> Option<&SigningKey> {
        self.keys.iter().rev().find(|key| key.created + delay <= now).or_else(|| self.keys.first())
    }

    fn by_id(&self, key_id: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.key_id == key_id)
    }
}

#[cfg(unix)]
fn readable_by_others(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o044 != 0
}

#[cfg(not(unix))]
fn readable_by_others(_: &std::fs::Metadata) -> bool {
    false
}

/// The Ed25519 keys of one folder, reloadable while tokens are issued and verified (SIGHUP).
pub struct SigningKeys {
    dir: PathBuf,
    publish_delay: Duration,
    current: RwLock<Arc<KeySet>>,
}

/// What a load found, for the log: the warnings, and the ids of the keys (public).
#[derive(Debug)]
pub struct KeysLoaded {
    pub warnings: Vec<String>,
    pub key_ids: Vec<String>,
}

impl SigningKeys {
    /// Loads every key of `dir`; a missing or empty folder, or a file that is not an Ed25519 key, is an error.
    pub fn load(dir: &Path, publish_delay: Duration) -> Result<(Self, KeysLoaded), KeyDirError> {
        let (set, warnings) = KeySet::load(dir)?;
        let loaded = KeysLoaded { warnings, key_ids: set.keys.iter().map(|key| key.key_id.clone()).collect() };
        let keys = Self { dir: dir.to_owned(), publish_delay, current: RwLock::new(Arc::new(set)) };
        Ok((keys, loaded))
    }

    /// Reads the folder again; on an error the keys in use stay as they were.
    pub fn reload(&self) -> Result<KeysLoaded, KeyDirError> {
        let (set, warnings) = KeySet::load(&self.dir)?;
        let loaded = KeysLoaded { warnings, key_ids: set.keys.iter().map(|key| key.key_id.clone()).collect() };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(loaded)
    }

    /// The id of the key that signs at `now`.
    pub fn signing_key_id(&self, now: OffsetDateTime) -> Option<String> {
        self.current().signing(now, self.publish_delay).map(|key| key.key_id.clone())
    }

    fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn published(&self) -> Vec<VerificationKey> {
        let set = self.current();
        set.keys
            .iter()
            .rev()
            .map(|key| VerificationKey { key_id: key.key_id.clone(), ed25519_public_key: key.public_key })
            .collect()
    }
}

/// Writes a new Ed25519 key to `dir` (created if missing) as `<now, UTC>.pem`, readable by its owner only.
/// Returns the file and the key's id. An existing file is never overwritten.
pub fn generate_key_file(dir: &Path, now: OffsetDateTime) -> Result<(PathBuf, String), GenerateKeyError> {
    std::fs::create_dir_all(dir).map_err(|source| GenerateKeyError::Folder { dir: dir.to_owned(), source })?;
    let now = now.to_offset(time::UtcOffset::UTC);
    let name = now.format(NAME_FORMAT).map_err(|_| GenerateKeyError::Generate)?;
    let file = dir.join(format!("{name}.{EXTENSION}"));
    // PKCS#8 v1: what `openssl genpkey -algorithm ed25519` writes, readable by every tool.
    let document = Ed25519KeyPair::generate_pkcs8v1(&aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| GenerateKeyError::Generate)?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).map_err(|_| GenerateKeyError::Generate)?;
    let public_key: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| GenerateKeyError::Generate)?;
    let write = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AlreadyExists => GenerateKeyError::Exists { file: file.clone() },
        _ => GenerateKeyError::Write { file: file.clone(), source },
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&file).map_err(write)?;
    std::io::Write::write_all(&mut out, to_pem(document.as_ref(), PEM_LABEL).as_bytes()).map_err(write)?;
    out.sync_all().map_err(write)?;
    Ok((file, thumbprint(&public_key)))
}

/// What signs and verifies access tokens: the shared secret, or the Ed25519 key files.
pub(crate) enum TokenKeys {
    Secret { encoding: EncodingKey, decoding: DecodingKey },
    Ed25519(Arc<SigningKeys>),
}

impl TokenKeys {
    pub(crate) fn secret(secret: &[u8]) -> Self {
        Self::Secret { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    /// The one algorithm tokens are signed and accepted with.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Secret { .. } => Algorithm::HS256,
            Self::Ed25519(_) => Algorithm::EdDSA,
        }
    }

    pub(crate) fn sign<T: Serialize>(&self, claims: &T, now: OffsetDateTime) -> Result<String, TokenError> {
        let signed = match self {
            Self::Secret { encoding, .. } => encode(&Header::new(Algorithm::HS256), claims, encoding),
            Self::Ed25519(keys) => {
                let set = keys.current();
                let key = set
                    .signing(now, keys.publish_delay)
                    .ok_or_else(|| TokenError::Unexpected(anyhow::anyhow!("no signing key")))?;
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(key.key_id.clone());
                encode(&header, claims, &key.encoding)
            }
        };
        signed.map_err(|e| TokenError::Unexpected(anyhow::Error::new(e).context("cannot sign a token")))
    }

    /// Checks the signature with the key the header names (validation pins the algorithm). A header that points
    /// at a key of its own (`jku`, `x5u`, `jwk`, `x5c`) is refused: only our keys verify.
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<TokenData<T>, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
            return Err(TokenError::Invalid);
        }
        let decoded = match self {
            Self::Secret { decoding, .. } => decode(token, decoding, validation),
            Self::Ed25519(keys) => {
                let set = keys.current();
                let key = header.kid.as_deref().and_then(|kid| set.by_id(kid)).ok_or(TokenError::Invalid)?;
                decode(token, &key.decoding, validation)
            }
        };
        decoded.map_err(|_| TokenError::Invalid)
    }

    pub(crate) fn published(&self) -> Option<Vec<VerificationKey>> {
        match self {
            Self::Secret { .. } => None,
            Self::Ed25519(keys) => Some(keys.published()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of the test's own, removed when dropped.
    pub(super) struct Folder(pub(super) PathBuf);

    impl Folder {
        pub(super) fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("users-auth-keys-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("folder");
            Self(dir)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn at(rfc3339: &str) -> OffsetDateTime {
        OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).expect("time")
    }

    const DELAY: Duration = Duration::from_secs(300);

    #[test]
    fn a_generated_key_is_named_by_its_time_readable_by_its_owner_only_and_loads_under_its_thumbprint() {
        let folder = Folder::new("generate");
        let (file, key_id) = generate_key_file(&folder.0.join("nested"), at("2026-11-27T10:15:00Z")).expect("written");
        assert_eq!(file.file_name().and_then(|n| n.to_str()), Some("20261127T101500Z.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pem = std::fs::read_to_string(&file).expect("read");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let (keys, loaded) = SigningKeys::load(&folder.0.join("nested"), DELAY).expect("loads");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.key_ids, vec![key_id.clone()]);
        assert_eq!(keys.published()[0].key_id, key_id);
        let again = generate_key_file(&folder.0.join("nested"), at("2026-11-27T10:15:00Z"));
        assert!(matches!(again, Err(GenerateKeyError::Exists { .. })), "never overwritten");
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 public key.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").expect("base64url");
        let public_key: [u8; 32] = x.as_slice().try_into().expect("32 bytes");
        assert_eq!(thumbprint(&public_key), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    /// An OpenSSL-written key (PKCS#8 v1), the RFC 8032 test key 1.
    const OPENSSL_KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn an_openssl_key_loads_with_the_public_key_it_implies() {
        let folder = Folder::new("openssl");
        std::fs::write(folder.0.join("20260101T000000Z.pem"), OPENSSL_KEY).expect("written");
        let (keys, _) = SigningKeys::load(&folder.0, DELAY).expect("loads");
        let public = keys.published()[0].ed25519_public_key;
        assert_eq!(URL_SAFE_NO_PAD.encode(public), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    }

    #[test]
    fn the_newest_key_signs_only_once_published_for_the_delay_and_every_key_verifies() {
        let folder = Folder::new("rotation");
        let (_, first) = generate_key_file(&folder.0, at("2026-11-27T09:00:00Z")).expect("first");
        let (_, second) = generate_key_file(&folder.0, at("2026-11-27T10:00:00Z")).expect("second");
        let (_, third) = generate_key_file(&folder.0, at("2026-11-27T10:03:00Z")).expect("third");
        let (keys, _) = SigningKeys::load(&folder.0, DELAY).expect("loads");
        let signing = |now: &str| keys.signing_key_id(at(now)).expect("a key");
        assert_eq!(signing("2026-11-27T10:04:59Z"), first, "the second is not published for the delay yet");
        assert_eq!(signing("2026-11-27T10:07:59Z"), second, "nor the third");
        assert_eq!(signing("2026-11-27T10:08:00Z"), third);
        assert_eq!(signing("2026-11-27T09:00:01Z"), first, "until any is published long enough, the oldest");
        let published: Vec<String> = keys.published().into_iter().map(|key| key.key_id).collect();
        assert_eq!(published, vec![third, second, first], "every key is published, newest first");
    }

    #[test]
    fn a_missing_or_empty_folder_or_a_bad_file_is_an_error_and_a_reload_keeps_the_keys_in_use() {
        let folder = Folder::new("errors");
        let missing = SigningKeys::load(&folder.0.join("missing"), DELAY);
        assert!(matches!(missing, Err(KeyDirError::Unreadable { .. })));
        std::fs::write(folder.0.join("README"), "not a key").expect("written");
        assert!(matches!(SigningKeys::load(&folder.0, DELAY), Err(KeyDirError::Empty { .. })), "only *.pem count");
        let (_, key_id) = generate_key_file(&folder.0, at("2026-11-27T09:00:00Z")).expect("key");
        let (keys, _) = SigningKeys::load(&folder.0, DELAY).expect("loads");
        std::fs::write(
            folder.0.join("20261127T100000Z.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect("written");
        assert!(matches!(keys.reload(), Err(KeyDirError::NotEd25519 { .. })));
        assert_eq!(keys.signing_key_id(at("2026-11-27T12:00:00Z")), Some(key_id), "the old set stays");
        std::fs::remove_file(folder.0.join("20261127T100000Z.pem")).expect("removed");
        std::fs::write(folder.0.join("newest.pem"), OPENSSL_KEY).expect("written");
        let error = keys.reload().expect_err("bad name");
        assert!(matches!(error, KeyDirError::BadName { .. }));
        assert!(!error.to_string().contains("MC4CAQ"), "no key material in errors: {error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let folder = Folder::new("permissions");
        let (file, _) = generate_key_file(&folder.0, at("2026-11-27T09:00:00Z")).expect("key");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (_, loaded) = SigningKeys::load(&folder.0, DELAY).expect("loads");
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("20261127T090000Z.pem"), "{:?}", loaded.warnings);
    }
}

#[cfg(test)]
mod token_tests {
    use super::tests::Folder;
    use super::*;
    use crate::JwtAccessTokens;
    use serde_json::{json, Value};
    use users_domain::ports::{AccessTokens, TokenSubject, VerificationKeys};
    use users_domain::{Role, Timestamp, UserId};

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: UserId::new(7).expect("id"),
            role: Role::User,
            token_version: 1,
            session_id: users_domain::SessionId::parse("session-1").expect("sid"),
        }
    }

    /// A key file written an hour ago (so it signs at once), its private key and id.
    fn key_in(folder: &Folder) -> (EncodingKey, String) {
        let (file, key_id) =
            generate_key_file(&folder.0, OffsetDateTime::now_utc() - Duration::from_secs(3600)).expect("key");
        let der = pem_body(&std::fs::read_to_string(file).expect("read"), PEM_LABEL).expect("PEM");
        (EncodingKey::from_ed_der(&der), key_id)
    }

    fn tokens_of(folder: &Folder) -> (JwtAccessTokens, Arc<SigningKeys>) {
        let (keys, _) = SigningKeys::load(&folder.0, Duration::from_secs(300)).expect("loads");
        let keys = Arc::new(keys);
        (JwtAccessTokens::signed_with(keys.clone(), "users-api", "users-api", 900), keys)
    }

    fn claims() -> Value {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        json!({"sub": "7", "role": "user", "iat": now, "exp": now + 600, "iss": "users-api", "aud": "users-api",
               "jti": "x", "ver": 1})
    }

    fn header(kid: &str) -> Header {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header
    }

    #[test]
    fn an_eddsa_token_names_its_key_and_verifies_with_the_published_public_key() {
        let folder = Folder::new("token-issue");
        let (private_key, key_id) = key_in(&folder);
        let (tokens, _) = tokens_of(&folder);
        let issued = tokens.issue(&subject(), Timestamp::now()).expect("issued");
        let issued_header = decode_header(&issued.token).expect("header");
        assert_eq!((issued_header.alg, issued_header.kid.as_deref()), (Algorithm::EdDSA, Some(key_id.as_str())));
        assert!(tokens.verify(&issued.token).is_ok());
        // Anyone holding the published key verifies it, with nothing of ours.
        let published = tokens.published().expect("EdDSA publishes its keys");
        let x = URL_SAFE_NO_PAD.encode(published[0].ed25519_public_key);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["users-api"]);
        let outside = DecodingKey::from_ed_components(&x).expect("key");
        assert!(decode::<Value>(&issued.token, &outside, &validation).is_ok());
        assert!(tokens.verify(&encode(&header(&key_id), &claims(), &private_key).expect("signed")).is_ok());
        assert_eq!(
            JwtAccessTokens::new(b"0123456789abcdef0123456789abcdef", "users-api", "users-api", 900).published(),
            None
        );
    }

    #[test]
    fn an_unknown_kid_another_algorithm_or_a_key_of_the_token_s_own_is_refused() {
        let folder = Folder::new("token-refused");
        let (private_key, key_id) = key_in(&folder);
        let (tokens, _) = tokens_of(&folder);
        let stranger = Folder::new("token-stranger");
        let (stranger_key, stranger_id) = key_in(&stranger);
        let mut jku = header(&key_id);
        jku.jku = Some("https://evil.example/jwks.json".to_owned());
        let mut x5u = header(&key_id);
        x5u.x5u = Some("https://evil.example/cert.pem".to_owned());
        let mut no_kid = header(&key_id);
        no_kid.kid = None;
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let cases = [
            ("unknown kid", encode(&header(&stranger_id), &claims(), &stranger_key)),
            ("our kid, another key", encode(&header(&key_id), &claims(), &stranger_key)),
            ("no kid", encode(&no_kid, &claims(), &private_key)),
            ("jku", encode(&jku, &claims(), &private_key)),
            ("x5u", encode(&x5u, &claims(), &private_key)),
            ("HS256", encode(&Header::new(Algorithm::HS256), &claims(), &secret)),
        ];
        for (what, token) in cases {
            let token = token.expect("signed");
            assert!(matches!(tokens.verify(&token), Err(TokenError::Invalid)), "{what}");
        }
        let mut jwk = header(&key_id);
        jwk.jwk = Some(
            serde_json::from_value(
                json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            )
            .expect("jwk"),
        );
        let token = encode(&jwk, &claims(), &private_key).expect("signed");
        assert!(matches!(tokens.verify(&token), Err(TokenError::Invalid)), "jwk");
    }

    #[test]
    fn after_a_reload_a_new_key_is_published_at_once_signs_after_the_delay_and_older_tokens_still_verify() {
        let folder = Folder::new("token-reload");
        let (_, old_id) = key_in(&folder);
        let (tokens, keys) = tokens_of(&folder);
        let before = tokens.issue(&subject(), Timestamp::now()).expect("issued");
        let now = OffsetDateTime::now_utc();
        let (_, new_id) = generate_key_file(&folder.0, now).expect("new key");
        let loaded = keys.reload().expect("reloaded");
        assert_eq!(loaded.key_ids.len(), 2);
        let published: Vec<String> = tokens.published().expect("keys").into_iter().map(|key| key.key_id).collect();
        assert_eq!(published, vec![new_id.clone(), old_id.clone()]);
        let kid_at = |at: OffsetDateTime| {
            let token = tokens.issue(&subject(), Timestamp::from_datetime(at)).expect("issued").token;
            decode_header(token).expect("header").kid.expect("kid")
        };
        assert_eq!(kid_at(now + Duration::from_secs(299)), old_id);
        assert_eq!(kid_at(now + Duration::from_secs(301)), new_id);
        assert!(tokens.verify(&before.token).is_ok(), "tokens of the older key still verify");
    }
}
