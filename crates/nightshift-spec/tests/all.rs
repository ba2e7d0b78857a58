//! The configuration file and the shift spec, read as a person wrote them.

mod suite;
