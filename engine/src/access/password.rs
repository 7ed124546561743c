//! Password verifiers as PostgreSQL stores them: a SCRAM-SHA-256 verifier and an md5 hash.
//! The password itself is never kept.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// SCRAM iterations, as PostgreSQL's default.
pub const SCRAM_ITERATIONS: u32 = 4096;

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// PBKDF2-HMAC-SHA256 with one 32-byte block: SCRAM's SaltedPassword.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        out.iter_mut().zip(u.iter()).for_each(|(o, b)| *o ^= b);
    }
    out
}

/// The parts of a SCRAM verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramVerifier {
    /// A verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> ScramVerifier {
        let salt = uuid::Uuid::new_v4().as_bytes().to_vec();
        Self::with_salt(password, &salt, SCRAM_ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).to_vec(),
            server_key: hmac_sha256(&salted, b"Server Key").to_vec(),
        }
    }

    /// PostgreSQL's text form: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn encode(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            b64.encode(&self.salt),
            b64.encode(&self.stored_key),
            b64.encode(&self.server_key)
        )
    }

    pub fn decode(text: &str) -> Option<ScramVerifier> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(ScramVerifier {
            iterations: iterations.parse().ok()?,
            salt: b64.decode(salt).ok()?,
            stored_key: b64.decode(stored).ok()?,
            server_key: b64.decode(server).ok()?,
        })
    }
}

/// `md5` + hex(md5(password ‖ user)), as PostgreSQL and Redshift store md5 passwords.
pub fn md5_hash(user: &str, password: &str) -> String {
    let digest = md5::Md5::digest(format!("{password}{user}").as_bytes());
    format!("md5{}", hex(&digest))
}

/// The md5 digest of `bytes` (md5 sign-in answers a salted challenge with it).
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    md5::Md5::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_as_postgresql_makes_them() {
        // RFC 7677's example: user "user", password "pencil".
        let salt = base64::engine::general_purpose::STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = ScramVerifier::with_salt("pencil", &salt, 4096);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert_eq!(b64(&verifier.stored_key), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
        assert_eq!(b64(&verifier.server_key), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
        assert_eq!(ScramVerifier::decode(&verifier.encode()), Some(verifier));
        assert_eq!(md5_hash("user", "pass"), format!("md5{}", hex(&md5::Md5::digest(b"passuser"))));
    }
}
