//! How `q` finds its candidates at any table size. A trigram index (SQLite's FTS5 table, PostgreSQL's pg_trgm)
//! reads the whole list of every trigram it is asked for, and a trigram that most users hold (`use` in a table
//! of `user…` names, a common email domain) has a list as long as the table. Any part of `q` of 3 characters or
//! more finds a superset of `q`'s matches, so `q` is searched by its longest run of rare trigrams (a *window*),
//! and the `LIKE`s on the whole `q` decide. Which trigrams are rare is estimated from a sample of the users,
//! taken again every few minutes; a poor estimate costs time, never a wrong answer.

use crate::{contains_pattern, Connections, StatementContext as _};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The trigram index a dialect keeps for `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubstringIndex {
    /// A full-text table beside `users` (SQLite's FTS5 `users_search`, trigram tokenizer over the folded
    /// columns), searched by a phrase: it matches a substring of one column.
    SearchTable,
    /// Trigram indexes on the folded columns themselves (PostgreSQL's pg_trgm GIN), which serve a `LIKE`. They
    /// index words (runs of letters and digits), so a window needs three of those in a row to be searched.
    ColumnTrigrams,
}

impl SubstringIndex {
    /// The part of a rare run to search, as a range of its characters: all of it for the search table; for word
    /// trigrams its longest run of letters and digits, whose trigrams the sample judges as pg_trgm counts them (a
    /// word's edge trigrams, `42 ` of `…42@`, are held by every word ending alike, and the sample does not count
    /// them). `None` when that part is too short to search.
    fn searchable_part(self, run: &[char]) -> Option<Range<usize>> {
        let part = match self {
            Self::SearchTable => 0..run.len(),
            Self::ColumnTrigrams => {
                let mut longest = 0..0;
                let mut start = 0;
                for (at, c) in run.iter().enumerate() {
                    if !c.is_alphanumeric() {
                        start = at + 1;
                    } else if at + 1 - start > longest.len() {
                        longest = start..at + 1;
                    }
                }
                longest
            }
        };
        (part.len() >= SHORTEST_SEARCHABLE).then_some(part)
    }
}

/// A trigram index finds nothing for fewer characters than a trigram has: a shorter `q` is left to the `LIKE`s.
const SHORTEST_SEARCHABLE: usize = 3;

/// `q`'s condition on the index: the rows holding `window`, a part of the folded `q` (a superset of `q`'s matches).
#[derive(Debug, Clone)]
pub(crate) struct SubstringSearch {
    index: SubstringIndex,
    window: String,
}

impl SubstringSearch {
    /// ` AND …`: the index's condition for the window, bound.
    pub(crate) fn push_condition<DB: Database>(&self, builder: &mut QueryBuilder<DB>)
    where
        for<'t> String: Encode<'t, DB> + Type<DB>,
    {
        match self.index {
            SubstringIndex::SearchTable => {
                let phrase = format!("\"{}\"", self.window.replace('"', "\"\""));
                builder.push(" AND id IN (SELECT rowid FROM users_search WHERE users_search MATCH ");
                builder.push_bind(phrase).push(")");
            }
            SubstringIndex::ColumnTrigrams => {
                let pattern = contains_pattern(&self.window);
                builder.push(" AND (username_lower LIKE ").push_bind(pattern.clone());
                builder.push(" ESCAPE '\\' OR email LIKE ").push_bind(pattern.clone());
                builder.push(" ESCAPE '\\' OR name_lower LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
            }
        }
    }
}

/// How many users a sample reads (at most): a trigram held by 1 % of the users is seen about 10 times.
const SAMPLE_SIZE: i64 = 1000;
/// How long a sample serves before the next search takes another.
const SAMPLE_LIFETIME: Duration = Duration::from_secs(300);

/// Up to `SAMPLE_SIZE` users spread over the id range: at each of as many evenly spaced points, the first user at
/// or after it (index seeks, not a scan; points in one gap of the ids share a user, and the sample is smaller).
/// The recursion stops before the next point would pass the highest id, so no sum can overflow.
const SAMPLE_USERS: &str = "\
WITH RECURSIVE bounds (low, high) AS (SELECT (SELECT min(id) FROM users), (SELECT max(id) FROM users)),
points (at) AS (
    SELECT low FROM bounds WHERE low IS NOT NULL
    UNION ALL
    SELECT at + (high - low) / $1 + 1 FROM points, bounds WHERE at <= high - ((high - low) / $1 + 1)
),
picked (id) AS MATERIALIZED (SELECT (SELECT min(id) FROM users WHERE id >= at) FROM points)
SELECT username_lower, email, name_lower FROM users WHERE id IN (SELECT id FROM picked)";

/// How many of a sample's users hold each trigram (of characters, within one column, as FTS5 counts them).
#[derive(Debug, Default)]
pub(crate) struct TrigramSample {
    holders: HashMap<[char; 3], u32>,
    users: u32,
}

impl TrigramSample {
    pub(crate) fn of<'a>(users: impl IntoIterator<Item = [Option<&'a str>; 3]>) -> Self {
        let mut sample = Self::default();
        let mut held = HashSet::new();
        for columns in users {
            held.clear();
            for column in columns.into_iter().flatten() {
                let chars: Vec<char> = column.chars().collect();
                held.extend(chars.windows(3).map(|w| [w[0], w[1], w[2]]));
            }
            for &trigram in &held {
                *sample.holders.entry(trigram).or_default() += 1;
            }
            sample.users += 1;
        }
        sample
    }

    fn holders(&self, trigram: [char; 3]) -> u32 {
        self.holders.get(&trigram).copied().unwrap_or(0)
    }

    /// Held by over 1 % of the sampled users.
    fn is_common(&self, trigram: [char; 3]) -> bool {
        u64::from(self.holders(trigram)) * 100 > u64::from(self.users)
    }

    /// The search for the folded `q` (of `SHORTEST_SEARCHABLE` characters or more) on `index`: of its runs of rare
    /// trigrams, the longest that the index can search (of equally long ones, the least held); `q` whole when it has
    /// none.
    fn search(&self, index: SubstringIndex, folded_q: &str) -> SubstringSearch {
        let chars: Vec<char> = folded_q.chars().collect();
        let trigrams: Vec<[char; 3]> = chars.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
        let mut best: Option<(usize, u64, Range<usize>)> = None;
        let mut first = 0;
        while first < trigrams.len() {
            let run = trigrams[first..].iter().take_while(|&&t| !self.is_common(t)).count();
            if run > 0 {
                let run_chars = first..first + run + 2;
                if let Some(part) = index.searchable_part(&chars[run_chars.clone()]) {
                    let part = run_chars.start + part.start..run_chars.start + part.end;
                    let held = trigrams[part.start..part.end - 2].iter().map(|&t| u64::from(self.holders(t))).sum();
                    let length = part.len();
                    if best
                        .as_ref()
                        .is_none_or(|(longest, least, _)| length > *longest || (length == *longest && held < *least))
                    {
                        best = Some((length, held, part));
                    }
                }
            }
            first += run.max(1);
        }
        // No such run: `q` whole, which the index searches its own way (pg_trgm with its word-edge trigrams too).
        let window = best.map_or_else(|| folded_q.to_owned(), |(_, _, part)| chars[part].iter().collect());
        SubstringSearch { index, window }
    }
}

/// The latest sample, taken when a search first needs one and again once it is `SAMPLE_LIFETIME` old.
#[derive(Debug, Default)]
pub(crate) struct SampledTrigrams {
    latest: Mutex<Option<(Instant, Arc<TrigramSample>)>>,
    /// Held by the one search that takes a new sample; the others meanwhile use the stale one.
    sampling: tokio::sync::Mutex<()>,
}

impl SampledTrigrams {
    /// The index's search for the folded `q`, judged by the latest sample; `None` when `q` is too short to search.
    /// A stale sample is renewed by one search at a time; the others meanwhile use it as it is. A sample that fails
    /// (the database is failing: the listing's own statements will say so) leaves the stale one, or none.
    pub(crate) async fn search<DB>(
        &self,
        index: SubstringIndex,
        connections: &Connections<DB>,
        folded_q: &str,
    ) -> Option<SubstringSearch>
    where
        DB: Database,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
        for<'t> String: Decode<'t, DB> + Type<DB>,
        for<'t> Option<String>: Decode<'t, DB> + Type<DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
        usize: ColumnIndex<DB::Row>,
    {
        if folded_q.chars().count() < SHORTEST_SEARCHABLE {
            return None;
        }
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let sample = 'sample: {
            let stale = match latest {
                Some((taken, sample)) if taken.elapsed() < SAMPLE_LIFETIME => break 'sample sample,
                Some((_, sample)) => sample,
                None => Arc::default(),
            };
            let Ok(_sampling) = self.sampling.try_lock() else {
                break 'sample stale;
            };
            let statement = sqlx::query_as::<DB, (String, String, Option<String>)>(SAMPLE_USERS).bind(SAMPLE_SIZE);
            let rows = connections.run(async |c| statement.fetch_all(c).await.step("sample the users' trigrams")).await;
            let Ok(rows) = rows else {
                break 'sample stale;
            };
            let sample = Arc::new(TrigramSample::of(
                rows.iter()
                    .map(|(username, email, name)| [Some(username.as_str()), Some(email.as_str()), name.as_deref()]),
            ));
            *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), sample.clone()));
            sample
        };
        Some(sample.search(index, folded_q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample of 200 users `user<k>@example.com` named `User <k>`, plus `zed`.
    fn users_like_the_benchmarks() -> TrigramSample {
        let users: Vec<[String; 3]> =
            (0..200).map(|k| [format!("user{k}"), format!("user{k}@example.com"), format!("user {k}")]).collect();
        let zed = [Some("zed"), Some("zed@example.org"), None];
        TrigramSample::of(
            users.iter().map(|[u, e, n]| [Some(u.as_str()), Some(e.as_str()), Some(n.as_str())]).chain([zed]),
        )
    }

    fn window(sample: &TrigramSample, index: SubstringIndex, q: &str) -> String {
        sample.search(index, q).window
    }

    #[test]
    fn a_trigram_is_counted_once_per_user_and_common_above_one_percent() {
        let sample = users_like_the_benchmarks();
        assert_eq!(sample.users, 201);
        assert_eq!(sample.holders(['u', 's', 'e']), 200, "in username, email and name: one user each");
        assert_eq!(sample.holders(['z', 'e', 'd']), 1);
        assert!(!sample.is_common(['z', 'e', 'd']), "1 of 201");
        assert!(!sample.is_common(['4', '2', '@']), "user42@, user142@: 2 of 201, not over 1 %");
        assert!(sample.is_common(['9', '@', 'e']), "user9@, user19@ … user199@: 20 of 201");
    }

    #[test]
    fn q_is_searched_by_its_longest_run_of_rare_trigrams() {
        let sample = users_like_the_benchmarks();
        let full_text = SubstringIndex::SearchTable;
        // `use`, `ser`, `er1` and `r14` (user14, user140 … user149) are common; `142` and `42@` are not.
        assert_eq!(window(&sample, full_text, "user142@"), "142@");
        // Two runs of three rare trigrams (`zed@e`, `e.org`): the first of equally held ones.
        assert_eq!(window(&sample, full_text, "zed@example.org"), "zed@e");
        assert_eq!(window(&sample, full_text, "qxuser14@abcd"), "14@abcd", "the longer run");
        assert_eq!(window(&sample, full_text, "qxuser142@"), "qxus", "as long, held by fewer");
        assert_eq!(window(&sample, full_text, "example.com"), "example.com", "all common: q whole");
        assert_eq!(window(&sample, full_text, "qqqq"), "qqqq", "never seen: rare");
        assert_eq!(window(&sample, full_text, "\u{212A}é\u{0130}x"), "\u{212A}é\u{0130}x", "by characters");
    }

    #[test]
    fn a_word_trigram_index_is_given_the_longest_word_of_the_rare_run() {
        let sample = users_like_the_benchmarks();
        let words = SubstringIndex::ColumnTrigrams;
        assert_eq!(window(&sample, words, "user142@"), "142", "`142@`'s word");
        assert_eq!(window(&sample, words, "zed@example.org"), "zed", "`zed` of `zed@e`, as long as `org`");
        assert_eq!(window(&sample, words, "qxuser14@abcde"), "abcde", "`14@abcde`'s longest word");
        // No rare run holds a word of three: q whole, which pg_trgm searches with its word-edge trigrams.
        assert_eq!(window(&sample, words, "@.-x"), "@.-x");
        assert_eq!(window(&sample, words, "user@example.com"), "user@example.com", "`er@e` has none");
    }

    #[test]
    fn an_empty_sample_searches_q_whole() {
        let empty = TrigramSample::default();
        assert_eq!(window(&empty, SubstringIndex::SearchTable, "user142@"), "user142@");
    }
}
