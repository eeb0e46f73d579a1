//! Serving a page of a list: the base records inside the query's filters found by binary
//! search, merged with the overlay in the query's order, from the first row, after a keyset
//! cursor or at an offset, without scanning the base.

use serde_json::{json, Value};

use super::include;
use super::overlay::Entry;
use super::{Dataset, Key, ListQuery, Page, Resource, SortKey, Start};

impl Dataset {
    /// One page of `r` in the query's order, starting at `start`.
    pub(crate) fn page(&self, r: Resource, q: &ListQuery, start: Start, limit: usize) -> Page {
        let view = self.view(r, q);
        let filtered = r.has_status() || q.pipeline_id.is_some();
        let mut cursor = match start {
            Start::First => view.first(q.desc),
            Start::After(key) => view.after(self, r, q, key),
            Start::Offset(offset) if !filtered => match view.at_offset(self, r, q, offset) {
                Some(position) => position,
                None => {
                    return Page {
                        records: Vec::new(),
                        last: None,
                        more: false,
                    }
                }
            },
            Start::Offset(offset) => {
                let mut position = view.first(q.desc);
                let mut skipped = 0;
                while skipped < offset {
                    match view.next(self, r, q, &mut position) {
                        Some(row) if self.matches(r, q, &view, row) => skipped += 1,
                        Some(_) => {}
                        None => break,
                    }
                }
                position
            }
        };
        let mut rows = Vec::new();
        while rows.len() <= limit {
            match view.next(self, r, q, &mut cursor) {
                Some(row) if self.matches(r, q, &view, row) => rows.push(row),
                Some(_) => {}
                None => break,
            }
        }
        let more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows.last().map(|row| view.key(self, r, q.key, *row));
        let records = rows
            .into_iter()
            .map(|row| {
                let mut record = match row {
                    Row::Base(i) => self.base_record(r, i),
                    Row::Over(k) => view.over[k].record.clone(),
                };
                include::apply(r, &q.include, &mut record);
                record
            })
            .collect();
        Page {
            records,
            last,
            more,
        }
    }

    fn matches(&self, r: Resource, q: &ListQuery, view: &View, row: Row) -> bool {
        let field = |name: &str| match row {
            Row::Over(k) => view.over[k]
                .record
                .get(name)
                .cloned()
                .unwrap_or(Value::Null),
            Row::Base(i) => match name {
                "status" => json!(self.base_status(r, i)),
                _ => json!(Self::stage_pipeline(i)),
            },
        };
        if r.has_status() {
            let status = field("status");
            let status = status.as_str().unwrap_or("");
            let wanted = match &q.statuses {
                Some(list) => list.iter().any(|s| s == status),
                None => status != "deleted",
            };
            if !wanted {
                return false;
            }
        }
        match q.pipeline_id {
            Some(p) if r == Resource::Stages => field("pipeline_id").as_u64() == Some(p),
            _ => true,
        }
    }

    fn view(&self, r: Resource, q: &ListQuery) -> View {
        let n = self.base_count(r);
        // A mail folder is a block of base indexes, so it narrows the range like a time filter.
        let (first, end) = match q.folder {
            Some(f) => self.folder_range(f),
            None => (0, n),
        };
        let lo = match q.since {
            Some(t) => partition_point(first, end, |i| self.base_update(r, i) < t),
            None => first,
        };
        let hi = match q.until {
            Some(t) => partition_point(lo, end, |i| self.base_update(r, i) < t),
            None => end,
        };
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let (mut hidden, mut over) = (Vec::new(), Vec::new());
        if let Some(layer) = overlay.get(&r) {
            for entry in layer.entries.values() {
                if entry.ordinal < n {
                    hidden.push(entry.ordinal);
                }
                let in_range = q.since.is_none_or(|t| entry.update >= t)
                    && q.until.is_none_or(|t| entry.update < t)
                    && q.folder.is_none_or(|f| self.folder_of(entry.ordinal) == f);
                if entry.listed && in_range {
                    over.push(entry.clone());
                }
            }
        }
        drop(overlay);
        over.sort_by_key(|e| entry_key(e, q.key));
        View {
            lo,
            hi,
            hidden,
            over,
        }
    }
}

fn entry_key(e: &Entry, key: SortKey) -> Key {
    match key {
        SortKey::Id => (0, e.ordinal),
        SortKey::AddTime => (e.add, e.ordinal),
        SortKey::UpdateTime => (e.update, e.ordinal),
    }
}

/// First index in [lo, hi) where `below` turns false; `below` must be monotone.
fn partition_point(mut lo: u64, mut hi: u64, below: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[derive(Clone, Copy)]
enum Row {
    Base(u64),
    Over(usize),
}

/// Where a scan stands: the next base index and overlay slot to consider. Ascending scans
/// read `base` and `over` upwards; descending scans read `base - 1` and `over - 1` downwards.
struct Position {
    base: u64,
    over: usize,
}

/// A request's snapshot of one resource: the base index range inside the update-time filter,
/// the base records an edit has hidden, and the overlay records to merge in, sorted.
struct View {
    lo: u64,
    hi: u64,
    hidden: Vec<u64>,
    over: Vec<Entry>,
}

impl View {
    fn key(&self, data: &Dataset, r: Resource, key: SortKey, row: Row) -> Key {
        match row {
            Row::Base(i) => data.base_key(r, key, i),
            Row::Over(k) => entry_key(&self.over[k], key),
        }
    }

    fn first(&self, desc: bool) -> Position {
        if desc {
            Position {
                base: self.hi,
                over: self.over.len(),
            }
        } else {
            Position {
                base: self.lo,
                over: 0,
            }
        }
    }

    fn base_below(&self, data: &Dataset, r: Resource, key: SortKey, bound: Key) -> u64 {
        partition_point(self.lo, self.hi, |i| data.base_key(r, key, i) < bound)
    }

    fn over_below(&self, key: SortKey, bound: Key) -> usize {
        self.over.partition_point(|e| entry_key(e, key) < bound)
    }

    /// The position just past `bound` in the scan direction.
    fn after(&self, data: &Dataset, r: Resource, q: &ListQuery, bound: Key) -> Position {
        if q.desc {
            Position {
                base: self.base_below(data, r, q.key, bound),
                over: self.over_below(q.key, bound),
            }
        } else {
            let next = (bound.0, bound.1.saturating_add(1));
            Position {
                base: self.base_below(data, r, q.key, next),
                over: self.over_below(q.key, next),
            }
        }
    }

    fn hidden_between(&self, a: u64, b: u64) -> u64 {
        (self.hidden.partition_point(|h| *h < b) - self.hidden.partition_point(|h| *h < a)) as u64
    }

    /// The position of the `offset`-th row in scan order, found without walking the base.
    fn at_offset(
        &self,
        data: &Dataset,
        r: Resource,
        q: &ListQuery,
        offset: u64,
    ) -> Option<Position> {
        let total =
            self.hi - self.lo - self.hidden_between(self.lo, self.hi) + self.over.len() as u64;
        if offset >= total {
            return None;
        }
        let s = if q.desc { total - 1 - offset } else { offset };
        let merged_position = |j: usize| {
            let bound = entry_key(&self.over[j], q.key);
            let below = self.base_below(data, r, q.key, bound);
            j as u64 + below - self.lo - self.hidden_between(self.lo, below)
        };
        let c = (0..self.over.len())
            .take_while(|j| merged_position(*j) < s)
            .count();
        let (base, over) = if c < self.over.len() && merged_position(c) == s {
            let bound = entry_key(&self.over[c], q.key);
            (self.base_below(data, r, q.key, bound), c)
        } else {
            let mut i = self.lo + (s - c as u64);
            for h in self.hidden.iter().filter(|h| **h >= self.lo) {
                if *h <= i {
                    i += 1;
                } else {
                    break;
                }
            }
            (i, self.over_below(q.key, data.base_key(r, q.key, i)))
        };
        let over_is_next = c < self.over.len() && merged_position(c) == s;
        Some(match (q.desc, over_is_next) {
            (false, _) => Position { base, over },
            (true, true) => Position {
                base,
                over: over + 1,
            },
            (true, false) => Position {
                base: base + 1,
                over,
            },
        })
    }

    fn next(&self, data: &Dataset, r: Resource, q: &ListQuery, p: &mut Position) -> Option<Row> {
        if q.desc {
            while p.base > self.lo && self.hidden.binary_search(&(p.base - 1)).is_ok() {
                p.base -= 1;
            }
            let base = (p.base > self.lo).then(|| p.base - 1);
            let over = (p.over > 0).then(|| p.over - 1);
            match (base, over) {
                (Some(i), Some(k))
                    if data.base_key(r, q.key, i) > entry_key(&self.over[k], q.key) =>
                {
                    p.base -= 1;
                    Some(Row::Base(i))
                }
                (_, Some(k)) => {
                    p.over -= 1;
                    Some(Row::Over(k))
                }
                (Some(i), None) => {
                    p.base -= 1;
                    Some(Row::Base(i))
                }
                (None, None) => None,
            }
        } else {
            while p.base < self.hi && self.hidden.binary_search(&p.base).is_ok() {
                p.base += 1;
            }
            let base = (p.base < self.hi).then_some(p.base);
            let over = (p.over < self.over.len()).then_some(p.over);
            match (base, over) {
                (Some(i), Some(k))
                    if data.base_key(r, q.key, i) < entry_key(&self.over[k], q.key) =>
                {
                    p.base += 1;
                    Some(Row::Base(i))
                }
                (_, Some(k)) => {
                    p.over += 1;
                    Some(Row::Over(k))
                }
                (Some(i), None) => {
                    p.base += 1;
                    Some(Row::Base(i))
                }
                (None, None) => None,
            }
        }
    }
}
