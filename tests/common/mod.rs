#![allow(dead_code)]
pub mod certs;
