//! The seeded generator of a realistic Slack workspace: our own team, customers' people
//! at the demo customers' domains (Globex's as Slack Connect guests of another team),
//! a member without an address, one on free mail, a feedback-form bot; channels for
//! feature requests and bugs, a channel shared with Globex, an archived one and one
//! the bot was never invited to; threads over the last three months with replies,
//! late replies weeks after their parent, edits, a broadcast reply, a join, a bot post
//! and a parent deleted under its replies (a tombstone).
//!
//! Texts are mrkdwn as Slack stores it: mentions `<@U…>`, channel links `<#C…|name>`,
//! labelled links, `<!here>` and `&amp;`/`&lt;`/`&gt;` escapes. Invariant: the same
//! seed and clock give the same workspace, and every `ts` is unique and older than
//! `until`.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{channels, SimChannel, SimMessage, SimUser, Ts, CUSTOMER_DOMAINS};
use crate::vocab::{FIRST_NAMES_ASCII, FREE_MAIL, LAST_NAMES_ASCII, TICKET_FEATURES};

/// Our own workspace's team id.
pub const HOME_TEAM: &str = "T0CHORUS";
/// Globex's team, connected through the shared channel.
pub const GLOBEX_TEAM: &str = "T0GLOBEX";
/// The product manager who answers in threads.
pub const PM_USER: &str = "U0PRIYA";
/// The member whose profile shows no email address.
pub const NO_EMAIL_USER: &str = "U0NOMAIL";
/// The feedback-form bot's user and bot ids.
pub const BOT_USER: &str = "U0FORMBOT";
pub const BOT_ID: &str = "B0FORMBOT";

pub(super) struct Seeded {
    pub(super) users: Vec<SimUser>,
    pub(super) channels: BTreeMap<String, SimChannel>,
}

fn user(id: &str, team: &str, first: &str, last: &str, email: Option<String>) -> SimUser {
    let cap = |s: &str| {
        let mut chars = s.chars();
        chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    };
    SimUser {
        id: id.to_owned(),
        team_id: team.to_owned(),
        name: format!("{first}.{last}"),
        real_name: format!("{} {}", cap(first), cap(last)),
        email,
        is_bot: false,
        deleted: false,
    }
}

fn users(rng: &mut StdRng) -> (Vec<SimUser>, Vec<String>, Vec<String>) {
    let mut all = vec![
        user(PM_USER, HOME_TEAM, "priya", "natarajan", Some("priya@chorus.example".into())),
        user("U0SAMCSM", HOME_TEAM, "sam", "okafor", Some("sam@chorus.example".into())),
        user(NO_EMAIL_USER, HOME_TEAM, "kemi", "eze", None),
        user("U0FREEML", HOME_TEAM, "liam", "jensen", Some(format!("liam.jensen@{}", FREE_MAIL[0]))),
    ];
    let mut customers = Vec::new();
    let mut globex = Vec::new();
    for (d, domain) in CUSTOMER_DOMAINS.iter().enumerate() {
        for n in 0..2 {
            let first = FIRST_NAMES_ASCII.choose(rng).copied().unwrap_or("ana");
            let last = LAST_NAMES_ASCII.choose(rng).copied().unwrap_or("chen");
            let is_globex = *domain == "globex.example";
            let id = format!("{}{:02}{}", if is_globex { "W0" } else { "U0C" }, d, n);
            let team = if is_globex { GLOBEX_TEAM } else { HOME_TEAM };
            all.push(user(&id, team, first, last, Some(format!("{first}.{last}@{domain}"))));
            if is_globex {
                globex.push(id);
            } else {
                customers.push(id);
            }
        }
    }
    let mut bot = user(BOT_USER, HOME_TEAM, "feedback", "form", None);
    bot.name = "feedback-form".into();
    bot.real_name = "Feedback form".into();
    bot.is_bot = true;
    all.push(bot);
    (all, customers, globex)
}

fn channel(id: &str, name: &str, created: i64, purpose: &str) -> SimChannel {
    SimChannel {
        id: id.to_owned(),
        name: name.to_owned(),
        is_private: false,
        is_archived: false,
        is_ext_shared: false,
        bot_member: true,
        created,
        purpose: purpose.to_owned(),
        messages: BTreeMap::new(),
    }
}

/// Hands out unique `ts` values at given seconds.
struct Stamps {
    used: std::collections::BTreeSet<Ts>,
}

impl Stamps {
    fn at(&mut self, secs: i64) -> Ts {
        let mut ts = Ts::new(secs, 200);
        while !self.used.insert(ts) {
            ts = Ts::new(ts.secs, ts.micros + 1);
        }
        ts
    }
}

fn feature_text(rng: &mut StdRng, bugs: bool) -> String {
    let feature = TICKET_FEATURES.choose(rng).copied().unwrap_or("CSV export");
    let forms: &[&str] = if bugs {
        &[
            "*{f}* is broken for us since Tuesday &amp; it blocks month-end. <@U0PRIYA> can you look?",
            "Seeing errors in {f}: `500 Internal Server Error` on every try. Repro in <https://status.example/incident/42|this report>",
            "{f} times out when the list has &gt; 10k rows. <!here> anyone else?",
        ]
    } else {
        &[
            "We'd love *{f}*. Our admins ask for it every week &amp; it's in our renewal notes.",
            "Request: {f} please! See <https://wiki.example/specs/{f}|our spec> and <#C02BUGS|bugs> for the workaround.",
            "Any plans for _{f}_? <@U0PRIYA> we discussed it on the QBR call.",
            "+1 for {f} &lt;3 it would save us hours",
        ]
    };
    let form = forms.choose(rng).copied().unwrap_or("{f}");
    form.replace("{f}", feature)
}

const REPLIES: &[&str] = &[
    "Thanks, logged it. Which plan are you on?",
    "Same here, we need this too.",
    "<@U0PRIYA> any ETA?",
    "We shipped a beta behind a flag, want access?",
    "Following up: still needed &amp; now urgent.",
];

/// The seed's random source and the `ts` values handed out so far.
struct Seeder {
    rng: StdRng,
    stamps: Stamps,
}

/// Seeds `count` threads in `into` within `(from, until)`, posted by `posters`.
fn threads(
    seeder: &mut Seeder,
    into: &mut SimChannel,
    count: usize,
    (from, until): (i64, i64),
    posters: &[String],
    bugs: bool,
) {
    let Seeder { rng, stamps } = seeder;
    let span = (until - from).max(1);
    for i in 0..count {
        let at = from + span * i as i64 / count.max(1) as i64 + rng.gen_range(0..600);
        let at = at.min(until - 7_200);
        let poster = posters.choose(rng).cloned().unwrap_or_else(|| PM_USER.to_owned());
        let ts = stamps.at(at);
        let mut parent = SimMessage::new(ts, Some(&poster), &feature_text(rng, bugs));
        let replies = match rng.gen_range(0..10) {
            0..=3 => 0,
            4..=7 => rng.gen_range(1..=3),
            _ => rng.gen_range(4..=6),
        };
        for r in 0..replies {
            // Most replies come within hours; some weeks later, on a thread long scrolled away.
            let late = rng.gen_bool(0.2);
            let delay = if late { rng.gen_range(7..30) * 86_400 } else { rng.gen_range(60..20_000) * (r + 1) };
            let reply_at = (at + delay).min(until - 60);
            let author = if rng.gen_bool(0.4) { PM_USER.to_owned() } else { poster.clone() };
            let reply_ts = stamps.at(reply_at.max(at + 1));
            let text = REPLIES.choose(rng).copied().unwrap_or("+1");
            parent.replies.insert(reply_ts, SimMessage::new(reply_ts, Some(&author), text));
        }
        if rng.gen_bool(0.15) {
            let edited_at = stamps.at((at + 300).min(until - 1));
            parent.text.push_str(" (edited: adding our numbers)");
            parent.edited = Some((poster.clone(), edited_at));
        }
        into.messages.insert(ts, parent);
    }
}

/// The whole workspace, older than `until`.
pub(super) fn workspace(seed: u64, per_channel: usize, until: i64) -> Seeded {
    let mut rng = StdRng::seed_from_u64(seed);
    let (users, customers, globex) = users(&mut rng);
    let mut seeder = Seeder { rng, stamps: Stamps { used: Default::default() } };
    let day = 86_400;
    let from = until - 90 * day;
    let mut posters = customers.clone();
    posters.extend([NO_EMAIL_USER.to_owned(), "U0FREEML".to_owned(), "U0SAMCSM".to_owned()]);

    let mut features =
        channel(channels::FEATURE_REQUESTS, "feature-requests", from - 400 * day, "Ideas from customers");
    threads(&mut seeder, &mut features, per_channel, (from, until), &posters, false);
    let mut form =
        SimMessage::new(seeder.stamps.at(until - 5 * day), None, "New form entry: *bulk edit* for tags (from Hooli)");
    form.subtype = Some("bot_message".into());
    form.bot_id = Some(BOT_ID.into());
    features.messages.insert(form.ts, form);
    let join_ts = seeder.stamps.at(until - 20 * day);
    let mut join = SimMessage::new(join_ts, Some(PM_USER), "<@U0PRIYA> has joined the channel");
    join.subtype = Some("channel_join".into());
    features.messages.insert(join_ts, join);

    let mut bugs = channel(channels::BUGS, "bugs", from - 300 * day, "Report bugs here");
    threads(&mut seeder, &mut bugs, per_channel, (from, until), &posters, true);
    // A parent deleted under its replies: Slack keeps it as a tombstone.
    let doomed = bugs.messages.values_mut().find(|m| !m.replies.is_empty());
    if let Some(doomed) = doomed {
        doomed.deleted = true;
    }
    // A reply also sent to the channel.
    if let Some(parent) = bugs.messages.values_mut().rev().find(|m| !m.deleted && !m.replies.is_empty()) {
        let at = parent.latest_reply().map_or(parent.ts.secs + 5, |t| t.secs + 5).min(until - 1);
        let ts = seeder.stamps.at(at);
        let mut broadcast = SimMessage::new(ts, Some(PM_USER), "Fixed in 4.2, rolling out today.");
        broadcast.subtype = Some("thread_broadcast".into());
        parent.replies.insert(ts, broadcast);
    }

    let mut shared = channel(channels::GLOBEX_SHARED, "ext-globex", from - 200 * day, "Chorus × Globex");
    shared.is_ext_shared = true;
    let mut globex_posters = globex.clone();
    globex_posters.push(NO_EMAIL_USER.to_owned());
    threads(&mut seeder, &mut shared, per_channel.div_ceil(2), (from, until), &globex_posters, false);

    let mut archived = channel(channels::ARCHIVED, "old-roadmap", from - 800 * day, "Roadmap 2024 (archived)");
    archived.is_archived = true;
    threads(&mut seeder, &mut archived, per_channel.div_ceil(3), (from - 200 * day, from - 100 * day), &posters, false);

    let mut random = channel(channels::NOT_INVITED, "random", from - 400 * day, "Off-topic");
    random.bot_member = false;
    threads(&mut seeder, &mut random, 3, (from, until), &posters, false);

    let channels = [features, bugs, shared, archived, random].into_iter().map(|c| (c.id.clone(), c)).collect();
    Seeded { users, channels }
}
