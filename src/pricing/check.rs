//! `tollgate pricing check`: what a table (and overlay) must be before anyone trusts its sums.
//! Every operation named exists in the AWS model, no two entries price the same thing, every
//! price has a source and a date, every priced service says which failed attempts it bills.

use std::collections::{BTreeSet, HashMap};

use super::table::{Condition, OperationPattern, PriceTable, DATA_TRANSFER};
use crate::aws::model::Model;

/// One thing wrong, named by entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub entry: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.entry, self.message)
    }
}

/// Services that are not in the model but are priced for every call.
fn is_pseudo_service(service: &str) -> bool {
    service == DATA_TRANSFER
}

pub fn check(table: &PriceTable, model: &Model) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |entry: &str, message: String| {
        problems.push(Problem {
            entry: entry.to_string(),
            message,
        })
    };

    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (service_name, service) in &table.services {
        let operations: Option<Vec<&str>> = if is_pseudo_service(service_name) {
            None
        } else {
            match model.service_named(service_name) {
                Some(index) => Some(
                    model
                        .service(index)
                        .operations
                        .iter()
                        .map(|op| op.name)
                        .collect(),
                ),
                None => {
                    problem(
                        service_name,
                        format!("no service `{service_name}` in the AWS model (botocore's service names, e.g. `s3`, `dynamodb`, `bedrock-runtime`)"),
                    );
                    continue;
                }
            }
        };
        let entries = service
            .prices
            .iter()
            .map(|e| (&*e.id, &e.operations, &e.source, &e.as_of))
            .chain(
                service
                    .free
                    .iter()
                    .map(|e| (&*e.id, &e.operations, &e.source, &e.as_of)),
            )
            .chain(
                service
                    .allowances
                    .iter()
                    .map(|e| (&*e.id, &e.operations, &e.source, &e.as_of)),
            );
        for (id, patterns, source, _as_of) in entries {
            *ids.entry(id).or_default() += 1;
            if !(source.starts_with("https://") || source.starts_with("http://")) {
                problem(id, format!("source `{source}` is not a URL"));
            }
            let Some(operations) = &operations else {
                continue;
            };
            for pattern in patterns.iter() {
                let named = match pattern {
                    OperationPattern::Rest => true,
                    pattern => operations.iter().any(|op| pattern.names(op)),
                };
                if !named {
                    problem(
                        id,
                        format!("no operation `{pattern}` in service `{service_name}`"),
                    );
                }
            }
        }
        if let Some(errors) = &service.errors {
            if !errors.source.starts_with("http") {
                problem(
                    &format!("{service_name} [errors]"),
                    format!("source `{}` is not a URL", errors.source),
                );
            }
        }
        if let Some(operations) = &operations {
            overlaps(service_name, service, operations, &mut problem);
        }
    }
    for (id, count) in ids {
        if count > 1 {
            problem(id, format!("the id is used by {count} entries"));
        }
    }
    problems.sort_by(|a, b| a.entry.cmp(&b.entry).then(a.message.cmp(&b.message)));
    problems.dedup();
    problems
}

/// Two conditions lists can both hold for one call unless some dimension both constrain has
/// disjoint values.
fn may_overlap(a: &[Condition], b: &[Condition]) -> bool {
    a.iter().all(|ca| {
        b.iter()
            .filter(|cb| cb.dimension == ca.dimension)
            .all(|cb| {
                ca.values.iter().any(|va| {
                    cb.values.iter().any(|vb| {
                        let prefix = |v: &str| v.strip_suffix('*').map(str::to_string);
                        match (prefix(va), prefix(vb)) {
                            (Some(pa), Some(pb)) => pa.starts_with(&pb) || pb.starts_with(&pa),
                            (Some(pa), None) => vb.starts_with(&pa),
                            (None, Some(pb)) => va.starts_with(&pb),
                            (None, None) => va == vb,
                        }
                    })
                })
            })
    })
}

fn overlaps(
    service_name: &str,
    service: &super::table::ServiceTable,
    operations: &[&str],
    problem: &mut impl FnMut(&str, String),
) {
    let mut reported = BTreeSet::new();
    for operation in operations {
        let explicit: Vec<_> = service
            .prices
            .iter()
            .filter(|e| e.operations.iter().any(|p| p.names(operation)))
            .collect();
        for (i, a) in explicit.iter().enumerate() {
            for b in &explicit[i + 1..] {
                if a.unit == b.unit
                    && may_overlap(&a.when, &b.when)
                    && reported.insert((a.id.clone(), b.id.clone()))
                {
                    problem(
                        &a.id,
                        format!(
                            "overlaps `{}`: both price {service_name}:{operation} per {}",
                            b.id, a.unit
                        ),
                    );
                }
            }
        }
        for free in service
            .free
            .iter()
            .filter(|f| f.operations.iter().any(|p| p.names(operation)))
        {
            for priced in &explicit {
                if may_overlap(&free.when, &priced.when)
                    && reported.insert((free.id.clone(), priced.id.clone()))
                {
                    problem(
                        &free.id,
                        format!(
                            "{service_name}:{operation} is both free here and priced by `{}`",
                            priced.id
                        ),
                    );
                }
            }
        }
    }
    let rest: Vec<_> = service
        .prices
        .iter()
        .filter(|e| e.operations.contains(&OperationPattern::Rest))
        .collect();
    for (i, a) in rest.iter().enumerate() {
        for b in &rest[i + 1..] {
            if a.unit == b.unit
                && may_overlap(&a.when, &b.when)
                && reported.insert((a.id.clone(), b.id.clone()))
            {
                problem(
                    &a.id,
                    format!(
                        "overlaps `{}`: both price the rest of {service_name} per {}",
                        b.id, a.unit
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::overlay::{self};
    use crate::pricing::table::Origin;
    use std::path::Path;

    #[test]
    fn the_built_in_table_passes_its_own_check() {
        let table = PriceTable::built_in().expect("the built-in table loads");
        let problems = check(&table, Model::embedded());
        assert!(
            problems.is_empty(),
            "{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    fn problems_with(overlay_text: &str) -> Vec<String> {
        let mut table = PriceTable::built_in().unwrap();
        let config = overlay::parse(Path::new("o.toml"), overlay_text).unwrap();
        overlay::apply(
            &mut table,
            Path::new("o.toml"),
            config,
            Origin::Overlay("o.toml".into()),
        )
        .unwrap();
        check(&table, Model::embedded())
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn names_missing_from_the_model_overlaps_and_missing_sources_are_reported() {
        let problems = problems_with(
            r#"
[[pricing.price]]
id = "mine/typo"
service = "sqs"
operations = ["SendMesage"]
unit = "request"
usd = "0.1"
source = "https://example.com"
as_of = "2026-01-01"

[[pricing.price]]
id = "mine/a"
service = "lambda"
operations = ["Invoke"]
unit = "request"
usd = "0.1"
source = "my notes"
as_of = "2026-01-01"

[[pricing.price]]
id = "mine/nosuch"
service = "not-a-service"
operations = ["X"]
unit = "request"
usd = "0.1"
source = "https://example.com"
as_of = "2026-01-01"
"#,
        );
        let joined = problems.join("\n");
        assert!(
            joined.contains("mine/typo: no operation `SendMesage` in service `sqs`"),
            "{joined}"
        );
        assert!(
            joined.contains("mine/a: source `my notes` is not a URL"),
            "{joined}"
        );
        assert!(joined.contains("overlaps"), "{joined}");
        assert!(joined.contains("no service `not-a-service`"), "{joined}");
    }
}
