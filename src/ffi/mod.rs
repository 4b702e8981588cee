//! The C ABI. Every exported function converts its arguments, delegates to
//! the engine and converts the result; no protocol logic lives here.
//!
//! Conventions, for every function:
//! - A panic never crosses the ABI: it becomes the function's error value.
//! - Every pointer is NULL-checked; a NULL handle gives the documented error
//!   value, and a NULL handle passed to a `_free` function is a no-op.
//! - Getters that fill a caller buffer return the full length of the value.
//!   Strings are written NUL-terminated when `len + 1 <= cap`; byte blobs are
//!   written only when `len <= cap`. Pass `cap = 0` (buffer may be NULL) to ask
//!   for the length.
//! - A `fd` is the application's UDP socket; -1 is Qt's "null socket".

// How the Rust side is built: every exported function first turns its raw
// arguments into typed values in one `unsafe` block (handles through
// `handle`, buffers and strings through the conversions below), then goes
// through `call` (NULL handle and panic boundary) or, for a constructor,
// `guard` (panic boundary), and nothing else.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{c_char, c_int};

use crate::engine::error::DtlsError;
use crate::engine::Transport;
use crate::net::FdTransport;

pub mod config;
pub mod dtls;
pub(crate) mod handle;
pub mod keying;
pub mod psk;
pub mod server;
pub mod transport;
pub mod verifier;

/// An application's callback (a C function pointer) and the user data it
/// is called with, kept by the library to call later.
#[derive(Clone, Copy)]
pub(crate) struct UserCallback<F: Copy> {
    pub(crate) f: F,
    pub(crate) user: *mut libc::c_void,
}

// SAFETY: every setter that keeps a UserCallback documents that the
// application's callback may be called with its user data from the threads
// that drive the object; the library only copies the two pointers and calls.
unsafe impl<F: Copy> Send for UserCallback<F> {}
// SAFETY: as for Send.
unsafe impl<F: Copy> Sync for UserCallback<F> {}

/// The panic boundary: runs `f`, turning a panic into `err`.
pub(crate) fn guard<R>(err: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(err)
}

/// The entry of every function on a handle: `err` for a NULL handle (None)
/// or a panic, else `f` on the handle's value.
pub(crate) fn call<O, R: Copy>(obj: Option<O>, err: R, f: impl FnOnce(O) -> R) -> R {
    match obj {
        Some(o) => guard(err, || f(o)),
        None => err,
    }
}

/// An argument the caller got wrong beyond what the handle's function can
/// take (NULL with a non-zero length, ...): InvalidInputParameters, with this
/// message, on handles that keep a last error.
pub(crate) struct BadArg(pub &'static str);

/// `Some` as the argument, None as the refusal `msg`.
pub(crate) fn need<T>(arg: Option<T>, msg: &'static str) -> Result<T, BadArg> {
    arg.ok_or(BadArg(msg))
}

/// Handle values that keep a last error (QDtls, QDtlsClientVerifier).
pub(crate) trait ErrorSlot {
    /// Records an error found at the ABI, before the engine was reached.
    fn report(&self, code: DtlsError, msg: &str);

    /// Records a refused argument and gives `err`.
    fn refuse<R>(&self, bad: BadArg, err: R) -> R {
        self.report(DtlsError::InvalidInputParameters, bad.0);
        err
    }
}

/// As [`call`], with arguments that may have been refused: a refusal is
/// recorded on the handle (see [`ErrorSlot::refuse`]) and gives `err`.
pub(crate) fn call_with<T: ErrorSlot, A, R: Copy>(
    obj: Option<&T>,
    err: R,
    args: Result<A, BadArg>,
    f: impl FnOnce(&T, A) -> R,
) -> R {
    call(obj, err, |o| match args {
        Ok(a) => f(o, a),
        Err(bad) => o.refuse(bad, err),
    })
}

/// Runs `f` with the application's socket as the engine's transport (None
/// for fd -1, Qt's null socket, which the engine refuses).
pub(crate) fn with_socket<R>(fd: c_int, f: impl FnOnce(Option<&mut dyn Transport>) -> R) -> R {
    let mut t = FdTransport::new(fd);
    f(t.as_mut().map(|t| t as &mut dyn Transport))
}

/// An IPv4 or IPv6 address literal (IPv6 optionally in brackets).
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The byte types C buffers come as: `uint8_t` and `char`.
pub(crate) trait CByte: sealed::Sealed {}
impl CByte for u8 {}
impl CByte for i8 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// `(ptr, count)` as a slice; NULL is allowed only with `count == 0`.
///
/// # Safety
/// A non-NULL `ptr` is valid for reading `count` values for `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, count: usize) -> Option<&'a [T]> {
    match (ptr.is_null(), count) {
        (_, 0) => Some(&[]),
        (true, _) => None,
        // SAFETY: non-NULL and valid for `count` values, as the caller promises.
        (false, n) => Some(unsafe { std::slice::from_raw_parts(ptr, n) }),
    }
}

/// `(ptr, len)` as bytes; NULL is allowed only with `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` is valid for reading `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a, T: CByte>(ptr: *const T, len: usize) -> Option<&'a [u8]> {
    // SAFETY: T is u8 or i8, of the size and alignment of u8; validity as
    // the caller promises.
    unsafe { slice(ptr.cast::<u8>(), len) }
}

/// The bytes of a NUL-terminated string (without the NUL); None for NULL.
///
/// # Safety
/// A non-NULL `ptr` points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: non-NULL pointers are NUL-terminated strings, as the caller promises.
    (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// A NUL-terminated UTF-8 string; None for NULL or invalid UTF-8.
///
/// # Safety
/// A non-NULL `ptr` points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    // SAFETY: as this function's contract.
    unsafe { c_bytes(ptr) }.and_then(|b| std::str::from_utf8(b).ok())
}

/// A caller's output buffer (`buf`, `cap`), written by the buffer rules of
/// the module documentation. NULL is a buffer of capacity 0.
pub(crate) struct Out<'a>(&'a mut [MaybeUninit<u8>]);

/// `(buf, cap)` as an output buffer.
///
/// # Safety
/// A non-NULL `buf` is valid for writing `cap` bytes, and nothing else
/// accesses them during `'a`.
pub(crate) unsafe fn out<'a, T: CByte>(buf: *mut T, cap: usize) -> Out<'a> {
    if buf.is_null() {
        return Out(&mut []);
    }
    // SAFETY: valid for writing `cap` bytes and not aliased, as the caller
    // promises; MaybeUninit<u8> needs no initialized contents.
    Out(unsafe { std::slice::from_raw_parts_mut(buf.cast::<MaybeUninit<u8>>(), cap) })
}

impl Out<'_> {
    /// Writes `s` NUL-terminated when it fits; returns its length.
    pub(crate) fn put_str(self, s: &str) -> usize {
        if let Some(dst) = self.0.get_mut(..s.len() + 1) {
            for (d, &b) in dst.iter_mut().zip(s.as_bytes().iter().chain(&[0])) {
                d.write(b);
            }
        }
        s.len()
    }

    /// Writes `b` when it fits; returns its length.
    pub(crate) fn put_bytes(self, b: &[u8]) -> usize {
        if let Some(dst) = self.0.get_mut(..b.len()) {
            for (d, &v) in dst.iter_mut().zip(b) {
                d.write(v);
            }
        }
        b.len()
    }
}

/// An optional out-parameter (`int *hash`, ...): None for NULL.
///
/// # Safety
/// A non-NULL `ptr` is valid for writing a `T` and not aliased during `'a`.
pub(crate) unsafe fn out_value<'a, T>(ptr: *mut T) -> Option<&'a mut MaybeUninit<T>> {
    // SAFETY: as this function's contract; MaybeUninit needs no initialized contents.
    unsafe { ptr.cast::<MaybeUninit<T>>().as_mut() }
}

/// The library version, "MAJOR.MINOR.PATCH", the same as `QDTLS_VERSION_STRING`.
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn qdtls_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// ---- Qt's numeric values --------------------------------------------------
//
// The C enums of qdtls.h (qdtls_error, qdtls_handshake_state, ...) are
// generated by build.rs from src/values.rs, the one place Qt's numbers are
// written. For Rust code speaking the C API (the tests), the same constants:
pub use crate::engine::values::c::*;

/// QSslSocket::UnencryptedMode: not a DTLS mode (`qdtls_new` refuses it).
pub const QDTLS_UNENCRYPTED_MODE: i32 = 0;
