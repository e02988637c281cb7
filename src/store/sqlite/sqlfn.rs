//! `dec_add(a, b)`: exact decimal addition inside SQLite.
//!
//! Money is stored as decimal text and SQLite would add text as floating point. The writer keeps
//! running totals per run with upserts (`cost_usd = dec_add(cost_usd, excluded.cost_usd)`), so
//! the addition has to happen in the database; this function does it with `rust_decimal`, the
//! type every other sum in tollgate uses. (PostgreSQL, later, has exact `numeric` addition.)
//!
//! NULL arguments count as zero; text that is not a decimal, or a sum out of range, is an SQL
//! error, so a bad amount fails its transaction instead of being summed as 0.

use std::ffi::{c_char, c_int, CString};
use std::ptr::NonNull;
use std::str::FromStr;

use libsqlite3_sys as ffi;
use rust_decimal::Decimal;

use crate::pricing::exact;

/// Registers the functions on one connection.
pub fn register(db: NonNull<ffi::sqlite3>) -> Result<(), String> {
    let name = CString::new("dec_add").expect("no NUL");
    // SAFETY: `db` is a live connection handle locked by the caller; the name is copied by
    // SQLite; the callback is a plain function without user data or destructor.
    let code = unsafe {
        ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            name.as_ptr(),
            2,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(dec_add),
            None,
            None,
            None,
        )
    };
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!("cannot register dec_add (SQLite code {code})"))
    }
}

/// The sum of the arguments as decimal text, or why not.
fn add(args: &[Option<&[u8]>]) -> Result<String, String> {
    let mut sum = Decimal::ZERO;
    for text in args.iter().flatten() {
        let text = std::str::from_utf8(text).map_err(|_| "dec_add: not text".to_string())?;
        let amount = Decimal::from_str(text.trim())
            .map_err(|_| format!("dec_add: {text:?} is not a decimal"))?;
        sum = sum
            .checked_add(amount)
            .ok_or_else(|| "dec_add: sum out of range".to_string())?;
    }
    Ok(exact(sum))
}

unsafe extern "C" fn dec_add(
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid values for the duration of the call; text pointers
    // stay valid until the value is converted again, which nothing here does.
    let values = unsafe { std::slice::from_raw_parts(argv, usize::try_from(argc).unwrap_or(0)) };
    let args: Vec<Option<&[u8]>> = values
        .iter()
        .map(|&value| unsafe {
            if ffi::sqlite3_value_type(value) == ffi::SQLITE_NULL {
                return None;
            }
            let text = ffi::sqlite3_value_text(value);
            let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
            Some(if text.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(text, len)
            })
        })
        .collect();
    // Nothing may unwind into SQLite's C frames.
    let result = std::panic::catch_unwind(|| add(&args))
        .unwrap_or_else(|_| Err("dec_add: internal error".to_string()));
    match result {
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy the text before this returns.
        Ok(text) => unsafe {
            ffi::sqlite3_result_text(
                context,
                text.as_ptr().cast::<c_char>(),
                c_int::try_from(text.len()).unwrap_or(0),
                ffi::SQLITE_TRANSIENT(),
            )
        },
        Err(message) => unsafe {
            ffi::sqlite3_result_error(
                context,
                message.as_ptr().cast::<c_char>(),
                c_int::try_from(message.len()).unwrap_or(0),
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_exactly_and_treats_null_as_zero() {
        assert_eq!(
            add(&[Some(b"0.1"), Some(b"0.2")]).unwrap(),
            "0.3",
            "f64 would say 0.30000000000000004"
        );
        assert_eq!(add(&[None, Some(b"0.0000004")]).unwrap(), "0.0000004");
        assert_eq!(add(&[None, None]).unwrap(), "0");
    }

    #[test]
    fn refuses_what_is_not_a_decimal() {
        assert!(add(&[Some(b"0.1"), Some(b"abc")])
            .unwrap_err()
            .contains("\"abc\" is not a decimal"));
        assert!(add(&[Some(b"79228162514264337593543950335"), Some(b"1")])
            .unwrap_err()
            .contains("out of range"));
    }
}
