//! The checker's name resolution: every name is resolved here, and an answer holding any
//! address the creation rules forbid is refused before a connection is opened, so a
//! destination whose name points (or is re-pointed, DNS rebinding) at loopback, a private
//! network or a cloud metadata address is recorded `blocked` and never reached.

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{is_global_v4, is_global_v6};

/// Whether the creation rules allow a destination at `ip`.
pub fn is_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private
        || match ip {
            IpAddr::V4(v4) => is_global_v4(v4),
            IpAddr::V6(v6) => is_global_v6(v6),
        }
}

/// The name resolved to an address the rules forbid; carries nothing of the address, which
/// is the operator's network and not for a link's owner to learn.
#[derive(Debug)]
pub struct ForbiddenAddress;

impl fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the destination resolves to an address that is not allowed")
    }
}

impl Error for ForbiddenAddress {}

/// The name does not resolve.
#[derive(Debug)]
pub struct UnresolvedName(pub String);

impl fmt::Display for UnresolvedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the name does not resolve: {}", self.0)
    }
}

impl Error for UnresolvedName {}

/// Which addresses a check may connect to.
type Rule = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// A reqwest resolver over hickory that refuses forbidden answers.
#[derive(Clone)]
pub struct CheckedResolver {
    resolver: Arc<TokioResolver>,
    allowed: Rule,
}

impl CheckedResolver {
    /// Resolves with `resolver`; `allow_private` is `security.allow_private_destinations`.
    pub fn new(resolver: TokioResolver, allow_private: bool) -> Self {
        Self {
            resolver: Arc::new(resolver),
            allowed: Arc::new(move |ip| is_allowed(ip, allow_private)),
        }
    }

    /// Asks `servers` (`ip:port`; none: the system's resolver configuration), with answers
    /// cached no longer than their TTL.
    ///
    /// # Errors
    /// When the system configuration cannot be read.
    pub fn from_servers(servers: &[SocketAddr], allow_private: bool) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let builder = if servers.is_empty() {
            TokioResolver::builder(provider)
                .map_err(|e| format!("reading /etc/resolv.conf: {e}"))?
        } else {
            let name_servers = servers
                .iter()
                .map(|server| {
                    let connection = |mut c: ConnectionConfig| {
                        c.port = server.port();
                        c
                    };
                    NameServerConfig::new(
                        server.ip(),
                        true,
                        vec![
                            connection(ConnectionConfig::udp()),
                            connection(ConnectionConfig::tcp()),
                        ],
                    )
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                provider,
            )
        };
        let mut builder = builder;
        // A short wait per server and few attempts: a check has its own deadline, and a name
        // that takes longer is a `dns` failure, not a stuck worker.
        builder.options_mut().timeout = std::time::Duration::from_secs(2);
        builder.options_mut().attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| format!("building the resolver: {e}"))?;
        Ok(Self::new(resolver, allow_private))
    }

    /// The same resolver deciding by `rule` which addresses are allowed: for tests that stand a
    /// loopback address in for the public internet. The production rule is [`is_allowed`].
    #[must_use]
    pub fn with_rule(mut self, rule: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Self {
        self.allowed = Arc::new(rule);
        self
    }

    /// Whether a check may connect to `ip` (address literals never reach [`Resolve`]).
    pub fn allows(&self, ip: IpAddr) -> bool {
        (self.allowed)(ip)
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.resolver.clone();
        let allowed = self.allowed.clone();
        Box::pin(async move {
            // A trailing dot: the name is absolute, never joined with a search domain.
            let absolute = format!("{}.", name.as_str().trim_end_matches('.'));
            let lookup = resolver.lookup_ip(absolute.as_str()).await.map_err(|e| {
                Box::new(UnresolvedName(e.to_string())) as Box<dyn Error + Send + Sync>
            })?;
            let addresses: Vec<IpAddr> = lookup.iter().collect();
            if addresses.is_empty() {
                return Err(Box::new(UnresolvedName("no address".into())) as _);
            }
            // One forbidden address refuses the whole answer: a name that mixes public and
            // private addresses is how a rebinding attack hedges.
            if addresses.iter().any(|ip| !allowed(*ip)) {
                return Err(Box::new(ForbiddenAddress) as _);
            }
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
