#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passgate_fuzz::attestation_verify(data));
