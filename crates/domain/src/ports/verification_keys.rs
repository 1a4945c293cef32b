/// A public key that verifies this service's access tokens, as other services fetch it (docs/api.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// The key's id, carried in each token's header as `kid`: the RFC 7638 thumbprint of the public key.
    pub key_id: String,
    pub ed25519_public_key: [u8; 32],
}

/// The public keys that verify access tokens, for other services to verify them without asking this one.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait VerificationKeys: Send + Sync {
    /// Every key a token may be signed with (including the ones not yet signing), or `None` when tokens are
    /// signed with a shared secret: then there is nothing to publish.
    fn published(&self) -> Option<Vec<VerificationKey>>;
}
