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

/// Tables and pricers for tests: the built-in table with an overlay's text applied.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;
    use std::sync::Arc;

    use super::overlay::{self, ConfigFile};
    use super::table::{Origin, PriceTable};
    use super::{Pricer, Settings};

    pub fn table_with(overlay_text: &str) -> (Arc<PriceTable>, Settings) {
        let mut table = PriceTable::built_in().expect("the built-in table loads");
        let config: ConfigFile = overlay::parse(Path::new("t.toml"), overlay_text).unwrap();
        let settings = overlay::apply(
            &mut table,
            Path::new("t.toml"),
            config,
            Origin::Overlay("t.toml".into()),
        )
        .unwrap();
        (Arc::new(table), settings)
    }

    /// One priced operation, `test-service:MakeWidget`: $0.000004 a request in us-east-1,
    /// $0.000005 in eu-west-1, no price elsewhere.
    pub const WIDGET: &str = r#"
[[pricing.price]]
id = "test/widget/request"
service = "test-service"
operations = ["MakeWidget"]
unit = "request"
usd = "0.000004"
regions = { "eu-west-1" = "0.000005" }
source = "https://example.com/prices"
as_of = "2026-01-01"
"#;

    pub fn pricer_with(overlay_text: &str) -> Pricer {
        let (table, settings) = table_with(overlay_text);
        Pricer::new(table, settings)
    }
}
