//! qdtls: DTLS 1.2 with the API of Qt's QDtls, QDtlsClientVerifier and
//! QSslPreSharedKeyAuthenticator, over OpenSSL, as a C ABI.
//!
//! Layers, each knowing only the ones below it: `ffi` (C ABI: conversion and
//! panic boundary) -> `net` (sends outgoing datagrams on the caller's fd) ->
//! `engine` (sans-I/O DTLS over OpenSSL).

pub mod engine;
pub mod ffi;
pub mod net;
