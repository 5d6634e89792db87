//! A tiny authoritative DNS server on loopback UDP for the link-health tests: it answers `A`
//! and `AAAA` questions for the names it was given (and NXDOMAIN for the rest), so a test can
//! make a public-looking name point at loopback, a private network or a metadata address
//! without touching the machine's resolver. It counts the questions it answered.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

/// A running fake DNS server; stops when dropped.
pub struct FakeDns {
    /// Where it listens.
    pub addr: SocketAddr,
    names: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
    questions: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDns {
    /// Starts a server answering `names` (lowercase, without the trailing dot).
    pub async fn start(names: &[(&str, &[IpAddr])]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let names: HashMap<String, Vec<IpAddr>> = names
            .iter()
            .map(|(n, ips)| ((*n).to_owned(), ips.to_vec()))
            .collect();
        let names = Arc::new(Mutex::new(names));
        let questions = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let names = names.clone();
            let questions = questions.clone();
            async move {
                let mut buf = [0u8; 1500];
                loop {
                    let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                        continue;
                    };
                    let table = names.lock().unwrap().clone();
                    if let Some(reply) = answer(&buf[..len], &table) {
                        questions.fetch_add(1, Ordering::Relaxed);
                        let _ = socket.send_to(&reply, peer).await;
                    }
                }
            }
        });
        Self {
            addr,
            names,
            questions,
            task,
        }
    }

    /// Points `name` at `ips` from now on (DNS rebinding).
    pub fn set(&self, name: &str, ips: &[IpAddr]) {
        self.names
            .lock()
            .unwrap()
            .insert(name.to_owned(), ips.to_vec());
    }

    /// Questions answered so far.
    pub fn questions(&self) -> u64 {
        self.questions.load(Ordering::Relaxed)
    }
}

/// The reply to one query, or `None` for something that is not one.
fn answer(query: &[u8], names: &HashMap<String, Vec<IpAddr>>) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question: labels, then type and class.
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    query.get(..question_end)?;
    let name = labels.join(".");
    let known = names.get(&name);
    let records: Vec<&IpAddr> = known
        .map(|ips| {
            ips.iter()
                .filter(|ip| match qtype {
                    1 => ip.is_ipv4(),
                    28 => ip.is_ipv6(),
                    _ => false,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[0..2]); // id
    let rcode: u8 = if known.is_some() { 0 } else { 3 }; // NXDOMAIN for unknown names
    reply.extend_from_slice(&[0x84 | (query[2] & 0x01), 0x80 | rcode]); // QR AA RD, RA
    reply.extend_from_slice(&1u16.to_be_bytes()); // one question
    reply.extend_from_slice(&u16::try_from(records.len()).unwrap().to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    reply.extend_from_slice(&query[12..question_end]);
    for ip in records {
        reply.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        let (kind, data): (u16, Vec<u8>) = match ip {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28, v6.octets().to_vec()),
        };
        reply.extend_from_slice(&kind.to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes()); // IN
        reply.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: every check asks again
        reply.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        reply.extend_from_slice(&data);
    }
    Some(reply)
}
