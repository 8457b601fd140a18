//! Hostile test plugin: `validate_profile` never returns, for the host's
//! execution time limit (fuel / epoch interruption); `registration_number`
//! draws a sequence value and then never returns, for the host giving the
//! value back. Other hooks: defaults.

use core::hint::black_box;
use tapline_sdk::{Application, FieldError, Plugin, Profile, host};

pub struct Loop;

impl Plugin for Loop {
    fn validate_profile(_p: &Profile) -> Vec<FieldError> {
        // black_box makes the counter observable, so the optimizer can't
        // prove the loop useless and drop it.
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }

    fn registration_number(_a: &Application) -> Option<String> {
        let mut n = host::next_sequence("n");
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

tapline_sdk::register!(Loop);
