#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nightshift_wire_fuzz::translate_response(data));
