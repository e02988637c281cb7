//! What calls cost: the price table (`pricing/*.toml`, compiled in), regional prices imported from
//! the AWS Price List, the user's overlay, and the exact cost of one call's usage.
//!
//! Knows the usage units of [`crate::aws::usage`] and nothing of the proxy or of storage. Money
//! is `rust_decimal::Decimal` throughout: never a float.

pub mod check;
pub mod cost;
pub mod import;
pub mod overlay;
pub mod reprice;
pub mod table;
pub mod update;

pub use cost::{cost_label, exact, format_usd, Cost, CostLine, PriceStatus, Pricer, PricingInput};
pub use overlay::{Settings, Sources};
pub use table::{PriceTable, TableError};
