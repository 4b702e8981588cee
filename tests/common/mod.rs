#![allow(dead_code)]
pub mod certs;
pub mod clock;
pub mod flood;
pub mod harness;
pub mod peer;
pub mod pipe;
pub mod rng;
pub mod server_net;
pub mod server_udp_harness;
