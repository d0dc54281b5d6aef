//! Output for people (aligned tables) and for scripts (`-o json`).

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Prints objects: one row each, columns from their fields, in field order.
pub fn rows<T: Serialize>(format: Format, items: &[T]) {
    let values: Vec<Value> = items
        .iter()
        .map(|item| serde_json::to_value(item).unwrap_or(Value::Null))
        .collect();
    if format == Format::Json {
        println!("{}", Value::Array(values));
        return;
    }
    let Some(Value::Object(first)) = values.first() else {
        return;
    };
    let columns: Vec<String> = first.keys().cloned().collect();
    let table: Vec<Vec<String>> = values
        .iter()
        .map(|v| columns.iter().map(|c| cell(&v[c.as_str()])).collect())
        .collect();
    print_table(&columns, &table);
}

/// Prints one object: a row of fields, or JSON.
pub fn one<T: Serialize>(format: Format, item: &T) {
    if format == Format::Json {
        println!("{}", serde_json::to_value(item).unwrap_or(Value::Null));
    } else {
        rows(format, std::slice::from_ref(item));
    }
}

pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

pub fn print_table(columns: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    for row in rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let line = |values: &[String]| {
        let cells: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    };
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    line(&header);
    for row in rows {
        line(row);
    }
}
