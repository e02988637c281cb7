//! The cost of one call: its usage priced against the table, exactly.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use rust_decimal::Decimal;
use serde::Serialize;

use super::overlay::Settings;
use super::table::{ErrorBilling, PriceEntry, PriceTable, BASE_REGION, CLOUDTRAIL, DATA_TRANSFER};
use crate::aws::usage::{Dimension, Unit, Usage};

/// What pricing needs to know about a call.
pub struct PricingInput<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    /// False for calls the model does not know (priced as unpriced, never dropped).
    pub known: bool,
    pub region: Option<&'a str>,
    /// `None` when no response came back: the request never reached AWS's billing.
    pub status: Option<u16>,
    pub error_code: Option<&'a str>,
    pub throttled: bool,
    pub usage: &'a Usage,
}

pub use crate::record::PriceStatus;

/// One priced quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    /// The table entry's id.
    pub entry: Arc<str>,
    pub service: String,
    pub unit: Unit,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// quantity × unit price, after any discount.
    pub amount: Decimal,
    /// Why this operation is behind the line when it is implied (`SSE-KMS without ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied_by: Option<&'static str>,
}

/// The cost of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub status: PriceStatus,
    /// The call's own cost: its request and usage units.
    pub lines: Vec<CostLine>,
    /// Data transfer out for the response bytes.
    pub transfer: Option<CostLine>,
    /// Costs the call causes elsewhere (KMS behind SSE-KMS, CloudTrail data events).
    pub implied: Vec<CostLine>,
    /// Why the amount is an estimate: a region priced at us-east-1 rates, units computed from
    /// sizes rather than reported by AWS.
    pub estimated: Option<String>,
}

impl Cost {
    fn with_status(status: PriceStatus) -> Self {
        Self {
            status,
            lines: Vec::new(),
            transfer: None,
            implied: Vec::new(),
            estimated: None,
        }
    }

    /// The call's own cost (request and usage units), without transfer or implied costs.
    pub fn own(&self) -> Decimal {
        self.lines.iter().map(|line| line.amount).sum()
    }

    pub fn transfer(&self) -> Decimal {
        self.transfer
            .as_ref()
            .map_or(Decimal::ZERO, |line| line.amount)
    }

    pub fn implied_total(&self) -> Decimal {
        self.implied.iter().map(|line| line.amount).sum()
    }

    /// Everything: own, transfer and implied.
    pub fn total(&self) -> Decimal {
        self.own() + self.transfer() + self.implied_total()
    }

    pub fn is_unpriced(&self) -> bool {
        matches!(self.status, PriceStatus::Unpriced { .. })
    }

    fn estimate(&mut self, why: impl Into<String>) {
        if self.estimated.is_none() {
            self.estimated = Some(why.into());
        }
    }
}

/// Why a call is estimated when `region` has no price of its own for `entry`.
pub fn regional_fallback(region: &str, entry: &str) -> String {
    format!("no {region} price for `{entry}`; the us-east-1 price is used")
}

/// The region of a [`regional_fallback`] reason: a call priced at us-east-1 rates for want of
/// its region's, which `tollgate pricing update --region R` makes exact.
pub fn fallback_region(estimated: &str) -> Option<&str> {
    let region = estimated.strip_prefix("no ")?.split_once(" price for `")?.0;
    (estimated.ends_with("; the us-east-1 price is used") && !region.contains(' '))
        .then_some(region)
}

/// Prices calls. Holds the little state pricing needs: which Athena queries were already priced.
#[derive(Debug)]
pub struct Pricer {
    table: Arc<PriceTable>,
    settings: Settings,
    priced_once: Mutex<LruCache<String, ()>>,
}

impl Pricer {
    pub fn new(table: Arc<PriceTable>, settings: Settings) -> Self {
        Self {
            table,
            settings,
            priced_once: Mutex::new(LruCache::new(NonZeroUsize::new(65_536).expect("non-zero"))),
        }
    }

    pub fn table(&self) -> &PriceTable {
        &self.table
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn price(&self, call: &PricingInput<'_>) -> Cost {
        let region = call.region.unwrap_or(BASE_REGION);
        let mut cost = self.own_cost(call, region);
        if let Some(why) = call.usage.estimated {
            cost.estimate(why);
        }
        // Data transfer out: whatever came back from a service that bills its requests (free
        // control planes such as STS and IAM bill no transfer either), unless the client runs
        // in the same region.
        let same_region = self
            .settings
            .account
            .inside_aws_region
            .as_deref()
            .is_some_and(|inside| inside == region);
        if cost.status == PriceStatus::Priced && !same_region {
            if let Some(quantity) = call.usage.quantity(Unit::GbOut) {
                let value_of = |_: Dimension| None;
                if let Some(entry) = self
                    .table
                    .prices_for(DATA_TRANSFER, "*", &value_of)
                    .into_iter()
                    .find(|e| e.unit == Unit::GbOut)
                {
                    cost.transfer =
                        Some(self.line(entry, region, quantity, None, &mut cost.estimated));
                }
            }
        }
        if call.status.is_some() {
            self.implied(call, region, &mut cost);
        }
        cost
    }

    fn own_cost(&self, call: &PricingInput<'_>, region: &str) -> Cost {
        if !call.known {
            return Cost::with_status(PriceStatus::Unpriced {
                reason: "operation not in the AWS model".into(),
            });
        }
        let Some(service) = self.table.service(call.service) else {
            return Cost::with_status(PriceStatus::Unpriced {
                reason: format!("no prices for service `{}`", call.service),
            });
        };
        let usage = call.usage;
        let ssm = if self.settings.account.ssm_higher_throughput {
            "higher"
        } else {
            "standard"
        };
        let value_of = |dimension: Dimension| match dimension {
            Dimension::SsmThroughput => Some(ssm),
            other => usage.dimension(other),
        };
        // Failed attempts: only what the service bills.
        match call.status {
            None => {
                return Cost::with_status(PriceStatus::NotBilled {
                    reason: "no response from AWS".into(),
                })
            }
            Some(status) if status >= 400 => {
                let policy = service.errors.as_ref();
                let billed = policy.map_or(ErrorBilling::None, |p| p.billed);
                let excepted = policy.is_some_and(|p| {
                    call.error_code
                        .is_some_and(|code| p.except.iter().any(|e| e == code))
                });
                let bills = match billed {
                    ErrorBilling::All => !excepted,
                    ErrorBilling::ClientErrors => status < 500 && !call.throttled && !excepted,
                    ErrorBilling::None => false,
                };
                if !bills {
                    let what = if call.throttled {
                        "throttled"
                    } else {
                        "failed"
                    };
                    let reason = match policy {
                        Some(_) => format!("{what} attempt; {} does not bill it", call.service),
                        None => format!(
                            "{what} attempt; the table has no error rules for {}, assumed not billed",
                            call.service
                        ),
                    };
                    return Cost::with_status(PriceStatus::NotBilled { reason });
                }
            }
            Some(_) => {}
        }
        if let Some(free) = self.table.free_for(call.service, call.operation, &value_of) {
            let explicit_price = self
                .table
                .prices_for(call.service, call.operation, &value_of)
                .into_iter()
                .any(|e| e.operations.iter().any(|p| p.names(call.operation)));
            if !explicit_price {
                return Cost::with_status(PriceStatus::Free {
                    reason: free.reason.clone(),
                });
            }
        }
        let entries = self
            .table
            .prices_for(call.service, call.operation, &value_of);
        let mut cost = Cost::with_status(PriceStatus::Priced);
        let mut estimated = None;
        for entry in entries {
            let Some(mut quantity) = usage.quantity(entry.unit) else {
                continue;
            };
            // Priced once per key (an Athena query's scan, however often its status is read).
            if entry.unit != Unit::Request {
                if let Some(key) = &usage.once_per {
                    let mut seen = self.priced_once.lock().unwrap_or_else(|p| p.into_inner());
                    if seen.put(key.clone(), ()).is_some() {
                        quantity = Decimal::ZERO;
                    }
                }
            }
            cost.lines
                .push(self.line(entry, region, quantity, None, &mut estimated));
        }
        if let Some(why) = estimated {
            cost.estimate(why);
        }
        if cost.lines.is_empty() {
            let reason = match usage.estimated {
                Some(why) => format!("no priced unit measured ({why})"),
                None => format!("no price for {}:{}", call.service, call.operation),
            };
            cost.status = PriceStatus::Unpriced { reason };
        }
        cost
    }

    fn implied(&self, call: &PricingInput<'_>, region: &str, cost: &mut Cost) {
        let succeeded = call.status.is_some_and(|s| s < 400);
        let mut estimated = cost.estimated.take();
        if succeeded {
            for implied in &call.usage.implied {
                let value_of = |d: Dimension| (d == Dimension::KeyType).then_some("symmetric");
                let entry = self
                    .table
                    .prices_for(implied.service, implied.operation, &value_of)
                    .into_iter()
                    .find(|e| e.unit == Unit::Request);
                if let Some(entry) = entry {
                    let line = self.line(
                        entry,
                        region,
                        Decimal::ONE,
                        Some(implied.why),
                        &mut estimated,
                    );
                    cost.implied.push(line);
                }
            }
        }
        if self.settings.account.cloudtrail_data_events && call.usage.data_event {
            let value_of = |_: Dimension| None;
            if let Some(entry) = self
                .table
                .service(CLOUDTRAIL)
                .into_iter()
                .flat_map(|s| s.prices.iter())
                .find(|e| e.unit == Unit::DataEvent && e.when_matches(&value_of))
            {
                let line = self.line(
                    entry,
                    region,
                    Decimal::ONE,
                    Some("CloudTrail data events are on"),
                    &mut estimated,
                );
                cost.implied.push(line);
            }
        }
        cost.estimated = estimated;
    }

    /// The entry's price per unit in `region` after the discount, and whether it is the
    /// us-east-1 price standing in for a region with none of its own.
    pub fn unit_price(&self, entry: &PriceEntry, region: &str) -> (Decimal, bool) {
        let (price, fallback) = entry.price_in(region);
        let discounted = if self.settings.discount_percent.is_zero() {
            price
        } else {
            price * (Decimal::ONE_HUNDRED - self.settings.discount_percent) / Decimal::ONE_HUNDRED
        };
        (discounted, fallback)
    }

    fn line(
        &self,
        entry: &PriceEntry,
        region: &str,
        quantity: Decimal,
        implied_by: Option<&'static str>,
        estimated: &mut Option<String>,
    ) -> CostLine {
        let (discounted, fallback) = self.unit_price(entry, region);
        if fallback && estimated.is_none() {
            *estimated = Some(regional_fallback(region, &entry.id));
        }
        CostLine {
            entry: entry.id.clone(),
            service: entry.service.clone(),
            unit: entry.unit,
            quantity,
            unit_price: discounted,
            amount: quantity * discounted,
            implied_by,
        }
    }
}

pub use crate::record::{cost_label, exact, format_usd};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::usage::Usage;
    use crate::pricing::testing::table_with;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    const TEST_PRICES: &str = r#"
[[pricing.price]]
id = "test/widget/request"
service = "test-service"
operations = ["MakeWidget"]
unit = "request"
usd = "0.000003"
regions = { "eu-west-1" = "0.0000035" }
source = "https://example.com/prices"
as_of = "2026-01-01"

[[pricing.price]]
id = "test/widget/rru"
service = "test-service"
operations = ["MakeWidget"]
unit = "read-request-unit"
usd = "0.000000125"
source = "https://example.com/prices"
as_of = "2026-01-01"
"#;

    fn input<'a>(operation: &'a str, usage: &'a Usage) -> PricingInput<'a> {
        PricingInput {
            service: "test-service",
            operation,
            known: true,
            region: Some("us-east-1"),
            status: Some(200),
            error_code: None,
            throttled: false,
            usage,
        }
    }

    /// Issue 13: DynamoDB's table management calls were shown as unpriced (and raised a
    /// "calls with no price" finding); AWS bills none of them per request. Calls that start
    /// billed work stay unpriced.
    #[test]
    fn dynamodb_control_plane_calls_are_free_with_a_source() {
        let (table, settings) = table_with("");
        let pricer = Pricer::new(table.clone(), settings);
        let usage = Usage::default();
        let price = |operation: &str| {
            pricer.price(&PricingInput {
                service: "dynamodb",
                ..input(operation, &usage)
            })
        };
        for operation in ["CreateTable", "DescribeTable", "ListTables", "DeleteTable"] {
            let cost = price(operation);
            assert!(
                matches!(cost.status, PriceStatus::Free { .. }),
                "{operation}: {:?}",
                cost.status
            );
            assert_eq!(cost.own(), Decimal::ZERO);
        }
        for operation in ["CreateBackup", "ImportTable", "ExportTableToPointInTime"] {
            assert!(
                matches!(price(operation).status, PriceStatus::Unpriced { .. }),
                "{operation}"
            );
        }
        let entry = table
            .service("dynamodb")
            .expect("dynamodb is priced")
            .free
            .iter()
            .find(|entry| entry.id.as_ref() == "dynamodb/free/control-plane")
            .expect("the control-plane entry");
        assert!(entry
            .source
            .starts_with("https://aws.amazon.com/dynamodb/pricing"));
    }

    #[test]
    fn a_million_calls_sum_exactly_to_the_nano_dollar() {
        let (table, settings) = table_with(TEST_PRICES);
        let pricer = Pricer::new(table, settings);
        let usage = Usage {
            quantities: vec![(Unit::ReadRequestUnit, dec("0.5"))],
            ..Usage::default()
        };
        let mut total = Decimal::ZERO;
        for _ in 0..1_000_000 {
            total += pricer.price(&input("MakeWidget", &usage)).total();
        }
        // 1e6 × (0.000003 + 0.5 × 0.000000125) = 3.0625 exactly.
        assert_eq!(total, dec("3.0625"));
        // What f64 would have made of it is not what we report.
        let float: f64 = (0..1_000_000)
            .map(|_| 0.000003f64 + 0.5 * 0.000000125)
            .sum();
        assert_ne!(float.to_string(), "3.0625");
    }

    #[test]
    fn unknown_operations_and_services_are_unpriced_never_zero() {
        let (table, settings) = table_with(TEST_PRICES);
        let pricer = Pricer::new(table, settings);
        let usage = Usage::default();
        let cost = pricer.price(&input("SomethingElse", &usage));
        assert!(cost.is_unpriced(), "{cost:?}");
        let mut unknown = input("MakeWidget", &usage);
        unknown.known = false;
        assert!(pricer.price(&unknown).is_unpriced());
        let mut other = input("MakeWidget", &usage);
        other.service = "no-such-service";
        assert!(pricer.price(&other).is_unpriced());
    }

    #[test]
    fn a_regional_fallback_names_its_region_and_nothing_else_does() {
        let reason = regional_fallback("eu-west-1", "s3/standard/tier1");
        assert_eq!(fallback_region(&reason), Some("eu-west-1"));
        assert_eq!(
            fallback_region("DynamoDB units computed from item sizes (no ConsumedCapacity)"),
            None
        );
    }

    #[test]
    fn regions_without_a_price_use_us_east_1_and_are_marked_estimated() {
        let (table, settings) = table_with(TEST_PRICES);
        let pricer = Pricer::new(table, settings);
        let usage = Usage::default();
        let mut call = input("MakeWidget", &usage);
        call.region = Some("eu-west-1");
        let cost = pricer.price(&call);
        assert_eq!(cost.own(), dec("0.0000035"));
        assert_eq!(cost.estimated, None);
        call.region = Some("ap-southeast-2");
        let cost = pricer.price(&call);
        assert_eq!(cost.own(), dec("0.000003"));
        assert!(cost.estimated.unwrap().contains("us-east-1 price"));
    }

    #[test]
    fn discounts_apply_to_every_line() {
        let (table, settings) = table_with(&format!(
            "[pricing]\ndiscount_percent = \"10\"\n{TEST_PRICES}"
        ));
        let pricer = Pricer::new(table, settings);
        let usage = Usage::default();
        assert_eq!(
            pricer.price(&input("MakeWidget", &usage)).own(),
            dec("0.0000027")
        );
    }

    #[test]
    fn failed_attempts_follow_the_services_error_rules() {
        let (table, settings) = table_with("");
        let pricer = Pricer::new(table, settings);
        let usage = Usage {
            dimensions: vec![(Dimension::StorageClass, "STANDARD".into())],
            ..Usage::default()
        };
        let s3 = |status, code, throttled| PricingInput {
            service: "s3",
            operation: "GetObject",
            known: true,
            region: Some("us-east-1"),
            status: Some(status),
            error_code: code,
            throttled,
            usage: &usage,
        };
        let not_found = pricer.price(&s3(404, Some("NoSuchKey"), false));
        assert_eq!(not_found.status, PriceStatus::Priced, "{not_found:?}");
        let slow_down = pricer.price(&s3(503, Some("SlowDown"), true));
        assert!(
            matches!(slow_down.status, PriceStatus::NotBilled { .. }),
            "{slow_down:?}"
        );
        assert_eq!(slow_down.own(), Decimal::ZERO);
    }

    #[test]
    fn usd_is_formatted_for_people() {
        assert_eq!(format_usd(dec("0.005")), "$0.005");
        assert_eq!(format_usd(dec("12")), "$12.00");
        assert_eq!(format_usd(dec("0.0000004")), "$0.0000004");
        assert_eq!(format_usd(dec("0.00000000001")), "$0.00");
        assert_eq!(exact(dec("0.00040000")), "0.0004");
    }
}
