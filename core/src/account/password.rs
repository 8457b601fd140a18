//! Password hashing with Argon2id, off the async runtime.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1, OWASP's current minimum for
//! Argon2id (Password Storage Cheat Sheet). `benches`-free measurement:
//! `cargo run --release -p tapline -- hash-bench` prints the time per hash.

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody has, verified when the account is unknown
/// so that "no such user" costs the same time as "wrong password".
static DUMMY: LazyLock<String> = LazyLock::new(|| hash_blocking("dummy password for timing"));

pub fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

pub fn verify_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hashes running at once. Each takes 19 MiB for its duration, and the
/// blocking pool would run hundreds side by side: a burst of logins then
/// costs gigabytes that the allocator keeps afterwards, for no more hashes
/// per second than one per core gives. The rest wait their turn here,
/// asleep and holding no memory.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

pub async fn hash(password: String) -> String {
    // The turn goes with the work: a client that leaves does not free it
    // while its hash still runs.
    let turn = HASHING
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        hash_blocking(&password)
    })
    .await
    .expect("the hashing task does not panic")
}

/// Verify against `hash`, or against the dummy hash when there is none.
pub async fn verify(hash: Option<String>, password: String) -> bool {
    let turn = HASHING
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        match hash {
            Some(h) => verify_blocking(&h, &password),
            None => {
                verify_blocking(&DUMMY, &password);
                false
            }
        }
    })
    .await
    .expect("the verifying task does not panic")
}

/// The rules a new password must meet; the message names what to fix.
pub fn check_new(
    password: &str,
    repeat: &str,
    min_len: usize,
) -> Result<(), (&'static str, String)> {
    if password.chars().count() < min_len {
        return Err((
            "password",
            format!("Пароль должен быть не короче {min_len} символов"),
        ));
    }
    if password.len() > 256 {
        return Err(("password", "Пароль слишком длинный".into()));
    }
    let kinds = [
        password.chars().any(|c| c.is_alphabetic()),
        password.chars().any(|c| c.is_ascii_digit()),
    ];
    if kinds.iter().any(|k| !k) {
        return Err(("password", "Пароль должен содержать буквы и цифры".into()));
    }
    if password != repeat {
        return Err(("password2", "Пароли не совпадают".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let h = hash_blocking("correct horse 1");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "correct horse 1"));
        assert!(!verify_blocking(&h, "correct horse 2"));
        assert!(!verify_blocking("not a hash", "x"));
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new("abc12345", "abc12345", 8).is_ok());
        assert_eq!(
            check_new("abc1234", "abc1234", 8).unwrap_err().0,
            "password"
        );
        assert_eq!(
            check_new("abcdefgh", "abcdefgh", 8).unwrap_err().0,
            "password"
        );
        assert_eq!(
            check_new("abc12345", "abc12346", 8).unwrap_err().0,
            "password2"
        );
    }
}
