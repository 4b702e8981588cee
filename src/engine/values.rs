//! Qt's enums as Rust enums, expanded from src/values.rs (build.rs expands
//! the same file into the C enums of qdtls.h).

/// Defines each enum with `#[repr(i32)]`, `ALL`, `from_i32`, and the C
/// constant names as plain `i32` constants in `c` (for Rust code that speaks
/// the C API, such as the tests).
macro_rules! qt_values {
    ($(
        $(#[$meta:meta])*
        pub enum $name:ident as $c_name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $c_const:ident, )*
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[repr(i32)]
            pub enum $name {
                $( $(#[$vmeta])* $variant = $value, )*
            }

            impl $name {
                /// Every value, in declaration order.
                pub const ALL: &'static [$name] = &[$($name::$variant),*];

                /// The value with Qt's number `v`, if there is one.
                pub fn from_i32(v: i32) -> Option<Self> {
                    Self::ALL.iter().copied().find(|x| *x as i32 == v)
                }
            }
        )*

        /// The C constants (`QDTLS_*`) with their values.
        pub mod c {
            $( $( #[allow(missing_docs)] pub const $c_const: i32 = $value; )* )*
        }
    };
}

include!("../values.rs");
