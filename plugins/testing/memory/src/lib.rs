//! Hostile test plugin: `validate_profile` allocates 1 MiB chunks forever,
//! for the host's memory limit. When the host refuses to grow memory the
//! allocation fails and the module aborts (a trap). Other hooks: defaults.

use core::hint::black_box;
use tapline_sdk::{FieldError, Plugin, Profile};

pub struct Memory;

const CHUNK: usize = 1 << 20;

impl Plugin for Memory {
    fn validate_profile(_p: &Profile) -> Vec<FieldError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // A non-zero fill writes every page, so the memory is really used.
            chunks.push(black_box(vec![0xA5; CHUNK]));
            black_box(&chunks);
        }
    }
}

tapline_sdk::register!(Memory);
