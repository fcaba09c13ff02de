//! Accounts: roles, password and token-secret hashing (argon2id PHC strings, never the
//! secret), API token creation and the configured demo user. The API's auth layer and
//! `edgecite user/token` both use these.

use crate::config::ApiConfig;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The first part of every API token (`ect_<id>_<secret>`).
pub const TOKEN_PREFIX: &str = "ect";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Technician,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "technician" => Some(Role::Technician),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Technician => "technician",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot hash a password: {0}")]
    Hash(String),
    #[error("no user `{0}` (create it with `edgecite user add {0} --role ...`)")]
    NoUser(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Hash a password (or token secret) as an argon2id PHC string with a random salt.
pub fn hash_secret(secret: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .to_string())
}

pub fn verify_secret(phc: &str, secret: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok())
}

/// 256 random bits, base64url without padding.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Create an API token for `user`; returns (id, the token string shown once).
pub fn create_token(store: &mut crate::store::Store, user: &str, label: &str) -> Result<(i64, String), AuthError> {
    let secret = random_secret();
    let hash = hash_secret(&secret)?;
    let id =
        store.create_token(user, label, &hash, crate::time::now_ms())?.ok_or_else(|| AuthError::NoUser(user.into()))?;
    Ok((id, format!("{TOKEN_PREFIX}_{id}_{secret}")))
}

/// Create the configured demo user unless a user of that name exists.
pub fn ensure_demo_user(store: &mut crate::store::Store, cfg: &ApiConfig) -> Result<(), AuthError> {
    let Some(d) = &cfg.demo_user else { return Ok(()) };
    // Any row of that name, disabled included: a disabled demo user stays disabled.
    if !store.user_exists(&d.name)? {
        store.upsert_user(&d.name, &d.role, &hash_secret(&d.password)?, crate::time::now_ms())?;
        let from = match &d.password_file {
            Some(p) => format!("its password is in {}", p.display()),
            None => "its password is in the config file".to_string(),
        };
        tracing::warn!(user = %d.name, role = %d.role, "demo user created from [api] demo_user; {from}: do not use this on a real site");
    }
    Ok(())
}
