//! Password hashes brought by an import (docs/api.md §9): bcrypt (`$2a$`, `$2b$`, `$2y$`), argon2id and
//! PBKDF2-SHA256 in PHC strings. Each is verified with its own algorithm; the domain replaces it by a bcrypt hash
//! at the configured cost after the first successful login. Their costs are bounded, so that one login cannot
//! hold a core (or, for argon2, memory) for long.

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::PasswordVerifier as _;
use users_domain::ports::UnsupportedHash;

/// The highest bcrypt cost taken from elsewhere (above the configured one): 2^16 rounds, seconds per login.
pub const MAX_IMPORTED_BCRYPT_COST: u32 = 16;
/// argon2id's memory per verification, in KiB (64 MiB), its passes, and its lanes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 64 * 1024;
pub const MAX_ARGON2_PASSES: u32 = 10;
pub const MAX_ARGON2_LANES: u32 = 8;
/// PBKDF2-SHA256 iterations (OWASP asks 600,000 today).
pub const MAX_PBKDF2_ROUNDS: u32 = 2_000_000;

/// A hash's algorithm, as its prefix says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    Bcrypt { cost: u32 },
    Argon2id,
    Pbkdf2Sha256,
}

/// The format of `hash` if it is one of ours, well-formed and within the bounds; `max_bcrypt_cost` for bcrypt.
pub fn recognize(hash: &str, max_bcrypt_cost: u32) -> Result<HashFormat, UnsupportedHash> {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| hash.starts_with(prefix)) {
        let parts: bcrypt::HashParts = hash.parse().map_err(|_| UnsupportedHash::UnknownFormat)?;
        // bcrypt's parser checks the cost's digits but not the length of the rest.
        if hash.len() != 60 {
            return Err(UnsupportedHash::UnknownFormat);
        }
        let cost = parts.get_cost();
        if cost > max_bcrypt_cost {
            return Err(UnsupportedHash::OutOfBounds(format!("bcrypt cost above {max_bcrypt_cost}")));
        }
        return Ok(HashFormat::Bcrypt { cost });
    }
    if hash.starts_with("$argon2id$") {
        let phc = PhcHash::new(hash).map_err(|_| UnsupportedHash::UnknownFormat)?;
        let params = argon2::Params::try_from(&phc).map_err(|_| UnsupportedHash::UnknownFormat)?;
        if phc.salt.is_none() || phc.hash.is_none() {
            return Err(UnsupportedHash::UnknownFormat);
        }
        if params.m_cost() > MAX_ARGON2_MEMORY_KIB
            || params.t_cost() > MAX_ARGON2_PASSES
            || params.p_cost() > MAX_ARGON2_LANES
        {
            return Err(UnsupportedHash::OutOfBounds(format!(
                "argon2id parameters above m={MAX_ARGON2_MEMORY_KIB}, t={MAX_ARGON2_PASSES}, p={MAX_ARGON2_LANES}"
            )));
        }
        return Ok(HashFormat::Argon2id);
    }
    if hash.starts_with("$pbkdf2-sha256$") {
        let phc = PhcHash::new(hash).map_err(|_| UnsupportedHash::UnknownFormat)?;
        let params = pbkdf2::Params::try_from(&phc).map_err(|_| UnsupportedHash::UnknownFormat)?;
        if phc.salt.is_none() || phc.hash.is_none() {
            return Err(UnsupportedHash::UnknownFormat);
        }
        if params.rounds() > MAX_PBKDF2_ROUNDS {
            return Err(UnsupportedHash::OutOfBounds(format!("PBKDF2 iterations above {MAX_PBKDF2_ROUNDS}")));
        }
        return Ok(HashFormat::Pbkdf2Sha256);
    }
    Err(UnsupportedHash::UnknownFormat)
}

/// Checks `password` against an argon2id or PBKDF2-SHA256 hash (blocking: run it off the async workers).
/// `Ok(false)` for a wrong password; `Err` for a hash that cannot be read.
pub fn verify_phc(format: HashFormat, password: &str, hash: &str) -> anyhow::Result<bool> {
    let phc = PhcHash::new(hash).map_err(|e| anyhow::anyhow!("unreadable PHC hash: {e}"))?;
    let verified = match format {
        HashFormat::Argon2id => argon2::Argon2::default().verify_password(password.as_bytes(), &phc),
        HashFormat::Pbkdf2Sha256 => pbkdf2::Pbkdf2::default().verify_password(password.as_bytes(), &phc),
        HashFormat::Bcrypt { .. } => anyhow::bail!("not a PHC hash"),
    };
    match verified {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("cannot verify the PHC hash: {e}")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Made with Python's argon2-cffi and hashlib for the password "correct horse": independent of the crates.
    pub(crate) const ARGON2ID: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$k9ohroejZy1PN5E1SbHNPug6vB8eQAahb5SOAp6iGF4";
    pub(crate) const PBKDF2: &str =
        "$pbkdf2-sha256$i=29000,l=32$c2FsdHNhbHRzYWx0c2FsdA$wdimsZz82dUhh09vxCX+tZ6CiAyYHJSfs9wD5qYnfzg";

    #[test]
    fn verifies_hashes_made_elsewhere() {
        for (hash, format) in [(ARGON2ID, HashFormat::Argon2id), (PBKDF2, HashFormat::Pbkdf2Sha256)] {
            assert_eq!(recognize(hash, 16), Ok(format));
            assert!(verify_phc(format, "correct horse", hash).expect("verified"), "{hash}");
            assert!(!verify_phc(format, "correct horsE", hash).expect("verified"), "{hash}");
        }
    }

    #[test]
    fn recognizes_each_format_and_refuses_the_rest() {
        let bcrypt = bcrypt::hash("correct horse", 5).expect("hashed");
        assert_eq!(recognize(&bcrypt, 16), Ok(HashFormat::Bcrypt { cost: 5 }));
        assert!(matches!(recognize(&bcrypt, 4), Err(UnsupportedHash::OutOfBounds(_))));
        assert_eq!(recognize(&bcrypt.replacen("$2b$", "$2y$", 1), 16), Ok(HashFormat::Bcrypt { cost: 5 }));
        for unknown in
            ["", "!", "$1$abc$def", "plain text", "$2b$05$short", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"]
        {
            assert_eq!(recognize(unknown, 16), Err(UnsupportedHash::UnknownFormat), "{unknown}");
        }
        let huge = "$pbkdf2-sha256$i=99999999,l=32$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(recognize(huge, 16), Err(UnsupportedHash::OutOfBounds(_))));
    }
}
