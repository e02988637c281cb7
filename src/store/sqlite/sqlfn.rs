//! `dec_add(a, b)` and the aggregate `dec_sum(x)`: exact decimal addition inside SQLite.
//!
//! Money is stored as decimal text and SQLite would add text as floating point. The writer keeps
//! running totals per run with upserts (`cost_usd = dec_add(cost_usd, excluded.cost_usd)`), so
//! the addition has to happen in the database; this function does it with `rust_decimal`, the
//! type every other sum in tollgate uses. (PostgreSQL, later, has exact `numeric` addition.)
//!
//! `dec_sum` sums a column the same way (one migration backfills totals with it).
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
    create(db, "dec_add", 2, Some(dec_add), None, None)?;
    create(
        db,
        "dec_sum",
        1,
        None,
        Some(dec_sum_step),
        Some(dec_sum_final),
    )
}

type Step = unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);
type Final = unsafe extern "C" fn(*mut ffi::sqlite3_context);

fn create(
    db: NonNull<ffi::sqlite3>,
    name: &str,
    args: c_int,
    scalar: Option<Step>,
    step: Option<Step>,
    last: Option<Final>,
) -> Result<(), String> {
    let c_name = CString::new(name).expect("no NUL");
    // SAFETY: `db` is a live connection handle locked by the caller; the name is copied by
    // SQLite; the callbacks are plain functions without user data or destructor.
    let code = unsafe {
        ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            c_name.as_ptr(),
            args,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            scalar,
            step,
            last,
            None,
        )
    };
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!("cannot register {name} (SQLite code {code})"))
    }
}

/// The sum of the arguments as decimal text, or why not.
fn add(args: &[Option<&[u8]>]) -> Result<String, String> {
    sum_onto(Decimal::ZERO, args).map(exact)
}

/// `start` plus the arguments, or why not.
fn sum_onto(start: Decimal, args: &[Option<&[u8]>]) -> Result<Decimal, String> {
    let mut sum = start;
    for text in args.iter().flatten() {
        let text = std::str::from_utf8(text).map_err(|_| "dec_add: not text".to_string())?;
        let amount = Decimal::from_str(text.trim())
            .map_err(|_| format!("dec_add: {text:?} is not a decimal"))?;
        sum = sum
            .checked_add(amount)
            .ok_or_else(|| "dec_add: sum out of range".to_string())?;
    }
    Ok(sum)
}

/// The function's arguments: text, or `None` for NULL.
///
/// # Safety
/// `argv` holds `argc` values SQLite passed to the running callback.
unsafe fn arguments<'v>(argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> Vec<Option<&'v [u8]>> {
    // SAFETY: SQLite passes `argc` valid values for the duration of the call; text pointers
    // stay valid until the value is converted again, which nothing here does.
    let values = unsafe { std::slice::from_raw_parts(argv, usize::try_from(argc).unwrap_or(0)) };
    values
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
        .collect()
}

/// Sets the function's result: the text, or the error.
///
/// # Safety
/// `context` is the running callback's.
unsafe fn answer(context: *mut ffi::sqlite3_context, result: Result<String, String>) {
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

unsafe extern "C" fn dec_add(
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: called by SQLite with its own arguments.
    let args = unsafe { arguments(argc, argv) };
    // Nothing may unwind into SQLite's C frames.
    let result = std::panic::catch_unwind(|| add(&args))
        .unwrap_or_else(|_| Err("dec_add: internal error".to_string()));
    // SAFETY: the running callback's context.
    unsafe { answer(context, result) }
}

/// `dec_sum`'s running sum, in the aggregate context SQLite allocates zeroed for each group:
/// [`Decimal::serialize`]'s 16 bytes, all zero being 0.
const SUM_BYTES: c_int = 16;

/// The group's running sum, or `None` when SQLite could not allocate it.
///
/// # Safety
/// `context` is a running `dec_sum` callback's.
unsafe fn running_sum<'c>(
    context: *mut ffi::sqlite3_context,
    create: bool,
) -> Option<&'c mut [u8; 16]> {
    // SAFETY: SQLite returns the same zeroed block of `SUM_BYTES` for every call of the group,
    // or NULL (out of memory, or no row was summed and `create` is false).
    let block =
        unsafe { ffi::sqlite3_aggregate_context(context, if create { SUM_BYTES } else { 0 }) };
    (!block.is_null()).then(|| unsafe { &mut *block.cast::<[u8; 16]>() })
}

unsafe extern "C" fn dec_sum_step(
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: called by SQLite with its own arguments and context.
    let args = unsafe { arguments(argc, argv) };
    let Some(sum) = (unsafe { running_sum(context, true) }) else {
        // SAFETY: the running callback's context.
        unsafe { ffi::sqlite3_result_error_nomem(context) };
        return;
    };
    let before = Decimal::deserialize(*sum);
    let added = std::panic::catch_unwind(|| sum_onto(before, &args))
        .unwrap_or_else(|_| Err("dec_sum: internal error".to_string()));
    match added {
        Ok(total) => *sum = total.serialize(),
        // SAFETY: the running callback's context; the error fails the statement.
        Err(message) => unsafe { answer(context, Err(message.replace("dec_add", "dec_sum"))) },
    }
}

unsafe extern "C" fn dec_sum_final(context: *mut ffi::sqlite3_context) {
    // SAFETY: called by SQLite with its own context; no block means no row, a sum of 0.
    let total = unsafe { running_sum(context, false) }
        .map_or(Decimal::ZERO, |sum| Decimal::deserialize(*sum));
    // SAFETY: the running callback's context.
    unsafe { answer(context, Ok(exact(total))) }
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
