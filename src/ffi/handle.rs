//! The C handles: which Rust value each opaque C type stands for and who
//! owns it. Every cast between a handle pointer and its Rust value is
//! written here, once, generic over [`Handle`].
//!
//! A handle is a pointer to its [`Handle::RustType`]; the C type itself is an
//! empty struct that only gives the pointer a name in `qdtls.h`.

mod sealed {
    pub trait Sealed {}
}

/// How C holds a handle's value: [`Boxed`] or [`Lent`].
pub(crate) trait Ownership: sealed::Sealed {}

/// C owns the value: the handle is a `Box<RustType>` made by [`into_raw`]
/// and released by [`free`].
pub(crate) enum Boxed {}

/// The library lends the value to C for the length of one callback
/// ([`lend`]); C never frees it.
pub(crate) enum Lent {}

impl sealed::Sealed for Boxed {}
impl sealed::Sealed for Lent {}
impl Ownership for Boxed {}
impl Ownership for Lent {}

/// An opaque C type standing for a Rust value.
pub(crate) trait Handle {
    /// [`Boxed`] or [`Lent`].
    type Ownership: Ownership;
    /// The value a handle points to.
    type RustType;
}

/// A handle whose C contract forbids concurrent use, so the library may take
/// `&mut` to its value ([`try_mut`]). Handles without it may be used from
/// several threads at once and are only ever reached through `&`.
pub(crate) trait Exclusive: Handle {}

/// The value behind `h`; None for NULL.
///
/// # Safety
/// `h` is NULL or a live handle of type `H` (made by [`into_raw`] and not
/// freed, or made by [`lend`] during the callback it was lent for), and no
/// `&mut` to its value is used during `'a`.
pub(crate) unsafe fn try_ref<'a, H: Handle>(h: *const H) -> Option<&'a H::RustType> {
    // SAFETY: a live handle points to an initialized `H::RustType` (into_raw
    // and lend make it so), shared for 'a as the caller promises.
    unsafe { h.cast::<H::RustType>().as_ref() }
}

/// The value behind `h`, mutably; None for NULL.
///
/// # Safety
/// As [`try_ref`], and nothing else uses the value during `'a` (the
/// [`Exclusive`] contract of `H`).
pub(crate) unsafe fn try_mut<'a, H: Exclusive>(h: *mut H) -> Option<&'a mut H::RustType> {
    // SAFETY: a live handle points to an initialized `H::RustType`, used by
    // nothing else for 'a as the caller promises.
    unsafe { h.cast::<H::RustType>().as_mut() }
}

/// A new handle owning `value`; release it with [`free`].
pub(crate) fn into_raw<H: Handle<Ownership = Boxed>>(value: H::RustType) -> *mut H {
    Box::into_raw(Box::new(value)).cast()
}

/// Drops the value of a handle made by [`into_raw`]; NULL is a no-op.
///
/// # Safety
/// `h` is NULL or a live handle of type `H`, not used afterwards nor concurrently.
pub(crate) unsafe fn free<H: Handle<Ownership = Boxed>>(h: *mut H) {
    if !h.is_null() {
        // SAFETY: `h` came from Box::into_raw in into_raw, and the caller
        // gives up every use of it.
        drop(unsafe { Box::from_raw(h.cast::<H::RustType>()) });
    }
}

/// A handle lending `value` to C; valid while the borrow lasts, which the
/// caller limits to the callback it hands the handle to.
pub(crate) fn lend<H: Handle<Ownership = Lent>>(value: &mut H::RustType) -> *mut H {
    (value as *mut H::RustType).cast()
}

/// A handle to a value the library owns and keeps alive for as long as its
/// documentation promises (a server's peer until its `on_closed` returns).
/// Only `&` is ever made from it again (the type is not [`Exclusive`]).
pub(crate) fn shared<H: Handle<Ownership = Boxed>>(value: &H::RustType) -> *mut H {
    (value as *const H::RustType).cast_mut().cast()
}
