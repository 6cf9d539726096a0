//! `chorus triage`: the items no account claims, for a person to link.

use std::path::Path;

use anyhow::Context;
use chorus_store::TriageCursor;

use crate::cli::Format;
use crate::runtime::App;

/// `DAY.RICHNESS.ID`, the position `--after` continues from.
fn cursor_text(cursor: &TriageCursor) -> String {
    format!("{}.{}.{}", cursor.day, cursor.richness, cursor.id)
}

fn parse_cursor(text: &str) -> anyhow::Result<TriageCursor> {
    let parts: Vec<&str> = text.split('.').collect();
    let [day, richness, id] = parts.as_slice() else {
        anyhow::bail!("--after `{text}`: expected the `next` value a page printed (DAY.RICHNESS.ID)");
    };
    let number = |part: &str| part.parse::<i64>().with_context(|| format!("--after `{text}`: `{part}` is no number"));
    Ok(TriageCursor { day: number(day)?, richness: number(richness)?, id: number(id)? })
}

pub async fn run(config: Option<&Path>, limit: u32, after: Option<&str>, format: Format) -> anyhow::Result<()> {
    let after = after.map(parse_cursor).transpose()?;
    let app = App::load(config).await?;
    let items = app.store.triage(after, limit).await?;
    if format == Format::Json {
        for item in &items {
            println!("{}", serde_json::to_string(item)?);
        }
        return Ok(());
    }
    if items.is_empty() {
        println!("nothing to triage: every item resolves to an account");
        return Ok(());
    }
    println!(
        "{:>7}  {:<10} {:<15} {:<17} {:>6}  {:<28} title",
        "item", "source", "kind", "created (UTC)", "chars", "author"
    );
    for item in &items {
        let author = item.author_email.as_deref().or(item.author_name.as_deref()).unwrap_or("-");
        println!(
            "{:>7}  {:<10} {:<15} {:<17} {:>6}  {:<28} {}",
            item.id,
            item.source.as_str(),
            item.kind.as_str(),
            item.created_at.format("%Y-%m-%d %H:%M"),
            item.richness,
            author,
            item.title
        );
    }
    if let Some(last) = items.last() {
        if items.len() as u32 >= limit {
            println!("next: chorus triage --after {}", cursor_text(&last.cursor));
        }
    }
    println!("link one with: chorus link ITEM --account ACCOUNT");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_say_why() {
        let cursor = TriageCursor { day: 20_000, richness: 512, id: 7 };
        assert_eq!(parse_cursor(&cursor_text(&cursor)).expect("parses"), cursor);
        assert!(parse_cursor("1.2").expect_err("short").to_string().contains("DAY.RICHNESS.ID"));
        assert!(parse_cursor("1.x.3").expect_err("not a number").to_string().contains("`x`"));
    }
}
