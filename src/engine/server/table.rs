//! The server's peers: a slab of entries, found by address and port, with
//! the counts the limits need (per source address, handshakes in progress)
//! and the handshakes in the order they started, so the oldest goes first.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::hello;

/// Where a peer is.
pub enum Phase {
    /// Handshaking since `started_us`; `replaces` is the established entry
    /// of the same address this handshake will replace when it completes.
    Handshaking {
        started_us: u64,
        serial: u64,
        replaces: Option<usize>,
    },
    Established,
}

pub struct Entry<P> {
    pub peer: Arc<P>,
    pub addr: SocketAddr,
    pub phase: Phase,
    /// Last authenticated traffic (µs on OpenSSL's clock).
    pub last_active_us: u64,
    /// The random of the ClientHello the session started with.
    pub random: [u8; 32],
    /// The token of the peer's current deadline (0: none).
    pub token: u64,
}

impl<P> Entry<P> {
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshaking { .. })
    }
}

/// Counts readable from any thread (and from inside the server's own callbacks).
#[derive(Default)]
pub struct Counts {
    pub peers: AtomicUsize,
    pub handshakes: AtomicUsize,
}

/// Which entry a datagram from a known address goes to.
pub enum Route {
    /// No entry for the address: the stateless exchange.
    New,
    /// An entry's session.
    Peer(usize),
    /// A ClientHello of epoch 0 to an established session: the client
    /// starts over on the same port.
    Reconnect(usize),
    /// A ClientHello with a new random to a handshaking session: the client
    /// started over before its handshake completed.
    Restart(usize),
}

pub struct Table<P> {
    slots: Vec<Option<Entry<P>>>,
    free: Vec<usize>,
    /// The entry owning each address: established, or handshaking with no predecessor.
    by_addr: HashMap<SocketAddr, usize>,
    /// New handshakes that will replace the established entry of their address.
    pending: HashMap<SocketAddr, usize>,
    per_ip: HashMap<IpAddr, usize>,
    /// Handshakes, oldest first; entries whose slot no longer holds that
    /// handshake (completed or closed) are skipped and compacted away.
    order: VecDeque<(usize, u64)>,
    next_serial: u64,
    pub counts: Arc<Counts>,
}

impl<P> Default for Table<P> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            by_addr: HashMap::new(),
            pending: HashMap::new(),
            per_ip: HashMap::new(),
            order: VecDeque::new(),
            next_serial: 0,
            counts: Arc::default(),
        }
    }
}

impl<P> Table<P> {
    pub fn len(&self) -> usize {
        self.counts.peers.load(Ordering::Relaxed)
    }

    pub fn handshakes(&self) -> usize {
        self.counts.handshakes.load(Ordering::Relaxed)
    }

    pub fn on_ip(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    pub fn get(&self, slot: usize) -> Option<&Entry<P>> {
        self.slots.get(slot)?.as_ref()
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Entry<P>> {
        self.slots.get_mut(slot)?.as_mut()
    }

    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|_| i))
    }

    /// The entry of an address (the established one while a replacement handshakes).
    pub fn at(&self, addr: &SocketAddr) -> Option<usize> {
        self.by_addr.get(addr).copied()
    }

    /// The handshake that will replace the established entry of an address.
    pub fn pending(&self, addr: &SocketAddr) -> Option<usize> {
        self.pending.get(addr).copied()
    }

    pub fn route(&self, addr: &SocketAddr, dgram: &[u8]) -> Route {
        if let Some(&new) = self.pending.get(addr) {
            if hello::is_handshake_traffic(dgram) {
                return self.or_restart(new, dgram);
            }
        }
        match self.by_addr.get(addr) {
            None => Route::New,
            Some(&s) => match self.get(s) {
                Some(e) if !e.is_handshaking() && hello::is_client_hello(dgram) && !self.pending.contains_key(addr) => {
                    Route::Reconnect(s)
                }
                Some(e) if e.is_handshaking() => self.or_restart(s, dgram),
                _ => Route::Peer(s),
            },
        }
    }

    /// A handshaking entry's datagram, unless it is a ClientHello of another handshake.
    fn or_restart(&self, slot: usize, dgram: &[u8]) -> Route {
        match (hello::parse(dgram), self.get(slot)) {
            (hello::Hello::ClientHello { random, .. }, Some(e)) if random != e.random => Route::Restart(slot),
            _ => Route::Peer(slot),
        }
    }

    /// What a handshaking entry replaces once complete, if anything.
    pub fn replaces(&self, slot: usize) -> Option<usize> {
        // Kept right by `remove`: it clears `replaces` when the established entry goes first.
        match self.get(slot)?.phase {
            Phase::Handshaking { replaces, .. } => replaces,
            Phase::Established => None,
        }
    }

    /// Adds a handshaking peer (replacing `replaces` once it completes).
    pub fn insert(
        &mut self,
        peer: Arc<P>,
        addr: SocketAddr,
        random: [u8; 32],
        now_us: u64,
        replaces: Option<usize>,
    ) -> usize {
        self.next_serial += 1;
        let serial = self.next_serial;
        let entry = Entry {
            peer,
            addr,
            phase: Phase::Handshaking { started_us: now_us, serial, replaces },
            last_active_us: now_us,
            random,
            token: 0,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        match replaces {
            Some(_) => self.pending.insert(addr, slot),
            None => self.by_addr.insert(addr, slot),
        };
        *self.per_ip.entry(addr.ip()).or_default() += 1;
        self.order.push_back((slot, serial));
        self.counts.peers.fetch_add(1, Ordering::Relaxed);
        self.counts.handshakes.fetch_add(1, Ordering::Relaxed);
        slot
    }

    /// The handshake of `slot` completed. Returns the entry it replaces, if any.
    pub fn establish(&mut self, slot: usize, now_us: u64) -> Option<usize> {
        let e = self.slots.get_mut(slot)?.as_mut()?;
        let Phase::Handshaking { replaces, .. } = e.phase else { return None };
        e.phase = Phase::Established;
        e.last_active_us = now_us;
        let addr = e.addr;
        self.counts.handshakes.fetch_sub(1, Ordering::Relaxed);
        self.compact_order();
        let old = replaces.filter(|_| self.pending.get(&addr) == Some(&slot));
        if old.is_some() {
            self.pending.remove(&addr);
            self.by_addr.insert(addr, slot);
        }
        old
    }

    /// Takes an entry out, keeping the address maps and counts right.
    pub fn remove(&mut self, slot: usize) -> Option<Entry<P>> {
        let e = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        if self.pending.get(&e.addr) == Some(&slot) {
            self.pending.remove(&e.addr);
        } else if self.by_addr.get(&e.addr) == Some(&slot) {
            self.by_addr.remove(&e.addr);
            // A replacement under way now owns the address by itself.
            if let Some(new) = self.pending.remove(&e.addr) {
                self.by_addr.insert(e.addr, new);
                if let Some(Entry { phase: Phase::Handshaking { replaces, .. }, .. }) = self.get_mut(new) {
                    *replaces = None;
                }
            }
        }
        if let Some(n) = self.per_ip.get_mut(&e.addr.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&e.addr.ip());
            }
        }
        self.counts.peers.fetch_sub(1, Ordering::Relaxed);
        if e.is_handshaking() {
            self.counts.handshakes.fetch_sub(1, Ordering::Relaxed);
            self.compact_order();
        }
        Some(e)
    }

    fn is_current(&self, (slot, serial): (usize, u64)) -> bool {
        matches!(self.get(slot), Some(Entry { phase: Phase::Handshaking { serial: s, .. }, .. }) if *s == serial)
    }

    /// The oldest handshake, of one source address or of any.
    pub fn oldest_handshake(&mut self, ip: Option<IpAddr>) -> Option<usize> {
        while let Some(&front) = self.order.front() {
            if self.is_current(front) {
                break;
            }
            self.order.pop_front();
        }
        self.order
            .iter()
            .copied()
            .filter(|&x| self.is_current(x))
            .find(|&(slot, _)| ip.is_none_or(|ip| self.get(slot).is_some_and(|e| e.addr.ip() == ip)))
            .map(|(slot, _)| slot)
    }

    /// Keeps the handshake order from growing with completed handshakes.
    fn compact_order(&mut self) {
        if self.order.len() > 64 && self.order.len() > 2 * self.handshakes() {
            let order = std::mem::take(&mut self.order);
            self.order = order.into_iter().filter(|&x| self.is_current(x)).collect();
        }
    }
}
