//! nightshift-gates' integration tests: command gates run real `sh` processes in temporary
//! folders; policy gates run on changes built by hand. Deterministic: no network, no git.

mod suite;
