//! Accounts from CSV: a header row naming `AccountImport` fields, one account a row.
//!
//! RFC 4180 fields (quoted fields may hold commas, doubled quotes and line breaks).
//! `domains` lists domains separated by `;` or spaces; `external_ids` lists
//! `CONNECTOR:SOURCE:ID` entries separated by `;`. An empty cell leaves the field out,
//! so the stored value is kept. Every row is checked before any is imported; an error
//! names the row and the column.

use anyhow::{bail, Context};
use chorus_store::AccountImport;
use serde_json::{Map, Value};

/// Columns holding numbers rather than text.
const NUMBERS: &[&str] = &["arr_minor", "parent_id", "id"];

pub fn accounts(text: &str) -> anyhow::Result<Vec<AccountImport>> {
    let rows = parse(text)?;
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else { bail!("empty CSV: expected a header row") };
    let header: Vec<String> = header.iter().map(|name| name.trim().to_ascii_lowercase()).collect();
    if !header.iter().any(|name| name == "name") {
        bail!("the header row has no `name` column");
    }
    let mut accounts = Vec::new();
    for (line, row) in rows {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if row.len() > header.len() {
            bail!("line {line}: {} cells but the header names {}", row.len(), header.len());
        }
        let mut object = Map::new();
        for (column, cell) in header.iter().zip(&row) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = cell_value(column, cell).with_context(|| format!("line {line}, column `{column}`"))?;
            object.insert(column.clone(), value);
        }
        let account =
            serde_json::from_value::<AccountImport>(Value::Object(object)).with_context(|| format!("line {line}"))?;
        accounts.push(account);
    }
    Ok(accounts)
}

fn cell_value(column: &str, cell: &str) -> anyhow::Result<Value> {
    Ok(match column {
        "domains" => Value::from(cell.split([';', ' ']).filter(|d| !d.is_empty()).collect::<Vec<_>>()),
        "external_ids" => Value::from(
            cell.split(';')
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| {
                    let parts: Vec<&str> = entry.trim().splitn(3, ':').collect();
                    let [connector, source, id] = parts.as_slice() else {
                        bail!("`{entry}`: expected CONNECTOR:SOURCE:ID");
                    };
                    Ok(serde_json::json!({ "connector": connector, "source": source, "id": id }))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        column if NUMBERS.contains(&column) => {
            Value::from(cell.parse::<i64>().with_context(|| format!("`{cell}` is no whole number"))?)
        }
        _ => Value::from(cell),
    })
}

/// The rows of a CSV text, each with the line it starts on.
fn parse(text: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut row_line = 1;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push((row_line, std::mem::take(&mut row)));
                line += 1;
                row_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        bail!("line {row_line}: a quoted field is never closed");
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((row_line, row));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_imports_with_lists_quotes_and_blanks() {
        let text = "name,domains,arr_minor,currency,plan,external_ids\r\n\
                    \"Acme, Inc\",acme.com;acme.io,125000,USD,pro,sf:salesforce:001A;zd:zendesk:42\r\n\
                    \"Multi\nline \"\"Co\"\"\",,,,,\n";
        let accounts = accounts(text).expect("parses");
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].name, "Acme, Inc");
        assert_eq!(accounts[0].domains, ["acme.com", "acme.io"]);
        assert_eq!(accounts[0].arr_minor, Some(125_000));
        assert_eq!(accounts[0].plan.as_deref(), Some("pro"));
        assert_eq!(accounts[0].external_ids.len(), 2);
        assert_eq!(accounts[1].name, "Multi\nline \"Co\"");
        assert_eq!(accounts[1].arr_minor, None, "an empty cell keeps the stored value");
    }

    #[test]
    fn bad_rows_name_their_line_and_column() {
        let err = accounts("name,arr_minor\nAcme,lots\n").expect_err("not a number");
        assert!(format!("{err:#}").contains("line 2, column `arr_minor`"), "{err:#}");
        let err = accounts("name,colour\nAcme,red\n").expect_err("unknown column");
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        assert!(accounts("domains\nacme.com\n").is_err(), "no name column");
        assert!(accounts("name\n\"open\n").is_err(), "unclosed quote");
    }
}
