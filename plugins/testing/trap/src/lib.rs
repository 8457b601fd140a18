//! Hostile test plugin: hooks that trap. With `panic = "abort"` (the
//! workspace release profile) a panic ends in a wasm `unreachable` trap.
//!
//! - `validate_profile` panics with a message (written to stderr first);
//! - `calculate_fee` divides by a zero the compiler can't see, which Rust
//!   turns into a "divide by zero" panic, hence a trap.
//!
//! Other hooks: defaults.

use core::hint::black_box;
use tapline_sdk::{Application, Fee, FeeLine, FieldError, Plugin, Profile};

pub struct Trap;

impl Plugin for Trap {
    fn validate_profile(_p: &Profile) -> Vec<FieldError> {
        panic!("test-trap: deliberate panic in validate_profile");
    }

    fn calculate_fee(_a: &Application) -> Option<Fee> {
        let zero: i64 = black_box(0);
        let amount = black_box(100_i64) / zero;
        Some(Fee::from_lines("RUB", vec![FeeLine::new("never", amount)]))
    }
}

tapline_sdk::register!(Trap);
