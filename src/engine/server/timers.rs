//! One timer for every peer of a server: a min-heap of deadlines. The
//! earliest is read in O(1); expiring pops only the deadlines that are due.
//!
//! Entries are never removed from the middle: rescheduling a peer pushes a
//! new entry with a new token and the old one is skipped when it surfaces
//! (the peer's current token no longer matches). Established peers push
//! nothing per datagram: their idle deadline is checked when it surfaces
//! and pushed again if they were active meanwhile, so an idle peer costs
//! one entry and nothing per call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A peer's place in the table, and the token of its current deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    pub slot: usize,
    pub token: u64,
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(u64, Due)>>,
    next_token: u64,
}

impl Timers {
    /// A new token for a peer's next deadline (tokens are never reused, so
    /// a stale entry can never match a peer that took over the slot).
    pub fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub fn push(&mut self, at_us: u64, due: Due) {
        self.heap.push(Reverse((at_us, due)));
    }

    /// The earliest current deadline: stale entries on top (of peers
    /// rescheduled or gone, `live` false) are dropped on the way, each once,
    /// so this is O(1) amortized.
    pub fn earliest(&mut self, live: impl Fn(&Due) -> bool) -> Option<u64> {
        while let Some(Reverse((at, due))) = self.heap.peek() {
            if live(due) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the earliest entry if it is due at `now_us`.
    pub fn pop_due(&mut self, now_us: u64) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now_us => self.heap.pop().map(|Reverse((_, d))| d),
            _ => None,
        }
    }

    /// Drops stale entries (those `live` says are not current).
    pub fn retain(&mut self, live: impl Fn(&Due) -> bool) {
        self.heap.retain(|Reverse((_, d))| live(d));
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
