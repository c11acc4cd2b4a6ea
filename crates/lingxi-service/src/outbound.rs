//! Where the server may send requests of its own (task-flow webhooks, SLA escalation webhooks): public addresses
//! only, unless the operator allows a private host or network. This keeps a tenant's admin from using a webhook to
//! reach the host's other services, the cloud's metadata endpoint or the company network (SSRF).
//!
//! Two checks, because a host name can point anywhere: a URL naming an address is checked before the request, and
//! a URL naming a host is sent through a client whose resolver drops every non-public address the allow-list does
//! not name (so a name that resolves to `10.0.0.5`, or rebinds to it later, is refused when it is used).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;

/// One entry of the operator's allow-list: a host name (`intranet.example.com`, `*.corp.example`), an address
/// (`10.0.0.5`, `[fd00::1]`) or a network (`10.0.0.0/8`), each optionally with `:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowRule {
    /// A host name, exact or `*.suffix` (any subdomain, not the bare suffix).
    Host { name: String, port: Option<u16> },
    /// An address or a network.
    Net { net: IpNet, port: Option<u16> },
}

impl std::str::FromStr for AllowRule {
    type Err = String;

    fn from_str(s: &str) -> Result<AllowRule, String> {
        let bad = || {
            format!(
                "{s:?} is not a host, address or network (examples: intranet.example.com, 10.0.0.5:8080, 10.0.0.0/8, *.corp.example)"
            )
        };
        let s = s.trim();
        if s.is_empty() || s.len() > 253 || s.contains(['@', '?', '#']) {
            return Err(bad());
        }
        // Networks: "10.0.0.0/8", "fd00::/8" (no port).
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AllowRule::Net { net: net.trunc(), port: None });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AllowRule::Net { net: IpNet::from(ip), port: None });
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(AllowRule::Net { net: IpNet::from(addr.ip()), port: Some(addr.port()) });
        }
        let (name, port) = match s.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let name = name.to_ascii_lowercase();
        let plain = name.strip_prefix("*.").unwrap_or(&name);
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if plain.is_empty() || !plain.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(AllowRule::Host { name, port })
    }
}

impl AllowRule {
    fn port_ok(port: Option<u16>, wanted: Option<u16>) -> bool {
        port.is_none() || port == wanted
    }

    fn matches_host(&self, host: &str, port: Option<u16>) -> bool {
        match self {
            AllowRule::Host { name, port: p } => {
                let hit = match name.strip_prefix("*.") {
                    Some(suffix) => host.strip_suffix(suffix).is_some_and(|head| head.ends_with('.') && head.len() > 1),
                    None => host == name,
                };
                hit && Self::port_ok(*p, port)
            }
            AllowRule::Net { .. } => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr, port: Option<u16>) -> bool {
        match self {
            AllowRule::Net { net, port: p } => net.contains(&canonical(ip)) && Self::port_ok(*p, port),
            AllowRule::Host { .. } => false,
        }
    }
}

/// The operator's outbound policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Private hosts and networks requests may reach anyway.
    pub allow: Vec<AllowRule>,
}

impl OutboundPolicy {
    /// Reads a comma- or whitespace-separated list (`LINGXI_OUTBOUND_ALLOW`).
    pub fn parse_list(list: &str) -> Result<OutboundPolicy, String> {
        let allow = list
            .split([',', ' ', '\n', '\t'])
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(OutboundPolicy { allow })
    }

    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.allow.iter().any(|r| r.matches_host(host, port))
    }

    fn ip_allowed(&self, ip: IpAddr, port: Option<u16>) -> bool {
        is_public(ip) || self.allow.iter().any(|r| r.matches_ip(ip, port))
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(what: &str) -> Refused {
    Refused(format!(
        "{what} is a private, loopback or reserved address; webhooks go to public addresses only (the operator can allow a private host with LINGXI_OUTBOUND_ALLOW)"
    ))
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique-local), link-local
/// (which holds cloud metadata endpoints), shared (CGNAT), multicast, documentation, benchmarking or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0 // site local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0100 && v6.segments()[1..4] == [0, 0, 0]) // discard-only
        }
    }
}

/// IPv4 written as IPv6 (`::ffff:10.0.0.1`, NAT64 `64:ff9b::10.0.0.1`) is judged as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return IpAddr::V4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// How a URL may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The operator allowed this host by name: any address it resolves to.
    Open,
    /// Through the resolver that drops non-public addresses.
    Guarded,
}

/// Sends the server's own requests under an [`OutboundPolicy`].
#[derive(Clone)]
pub struct Outbound {
    policy: Arc<OutboundPolicy>,
    open: reqwest::Client,
    guarded: reqwest::Client,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Outbound {
    /// Clients for this policy (no redirects followed: a redirect could point anywhere).
    pub fn new(policy: OutboundPolicy, timeout: Duration, user_agent: &str) -> Outbound {
        let policy = Arc::new(policy);
        let builder = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(user_agent.to_owned())
        };
        let resolver = Arc::new(GuardedResolver { policy: policy.clone() });
        Outbound {
            open: builder().build().unwrap_or_default(),
            guarded: builder().dns_resolver(resolver).build().unwrap_or_default(),
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Checks what can be checked without a lookup: the scheme, and the address when the URL names one (or
    /// `localhost`). Used when a webhook URL is saved and again before each request.
    pub fn check(&self, url: &str) -> Result<(), Refused> {
        self.route(url).map(|_| ())
    }

    fn route(&self, url: &str) -> Result<Route, Refused> {
        let parsed = Url::parse(url).map_err(|_| Refused(format!("{url:?} is not a URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refused("a webhook URL must start with https:// or http://".into()));
        }
        let port = parsed.port_or_known_default();
        match parsed.host() {
            Some(url::Host::Ipv4(v4)) => self.literal(IpAddr::V4(v4), port),
            Some(url::Host::Ipv6(v6)) => self.literal(IpAddr::V6(v6), port),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.policy.host_allowed(&name, port) {
                    Ok(Route::Open)
                } else if name == "localhost" || name.ends_with(".localhost") {
                    self.literal(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
                        .and_then(|_| self.literal(IpAddr::V6(Ipv6Addr::LOCALHOST), port))
                        .map(|_| Route::Open)
                        .map_err(|_| refused(&name))
                } else {
                    Ok(Route::Guarded)
                }
            }
            None => Err(Refused(format!("{url:?} names no host"))),
        }
    }

    fn literal(&self, ip: IpAddr, port: Option<u16>) -> Result<Route, Refused> {
        if self.policy.ip_allowed(ip, port) { Ok(Route::Open) } else { Err(refused(&ip.to_string())) }
    }

    /// A POST to `url`, if the policy lets it go there.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        Ok(match self.route(url)? {
            Route::Open => self.open.post(url),
            Route::Guarded => self.guarded.post(url),
        })
    }
}

/// The system resolver, minus the addresses the policy refuses (with the reason when none is left).
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.ip_allowed(a.ip(), None)).collect();
            if kept.is_empty() {
                let what = found.first().map_or_else(|| host.clone(), |a| format!("{host} ({})", a.ip()));
                return Err(Box::new(refused(&what)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An error with its causes ("error sending request … : 10.0.0.5 is a private … address"): reqwest's own message
/// leaves out why the connection was not made.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(list: &str) -> Outbound {
        Outbound::new(OutboundPolicy::parse_list(list).expect("list"), Duration::from_secs(1), "test")
    }

    #[test]
    fn public_addresses_only_by_default() {
        let o = policy("");
        for ok in
            ["https://shop.example.com/hook", "https://8.8.8.8/x", "http://1.1.1.1:8080/", "https://[2606:4700::1111]/"]
        {
            assert_eq!(o.check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:8080/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://localhost/",
            "http://api.localhost:9000/",
            "https://2130706433/",
            "https://0x7f.1/",
            "ftp://8.8.8.8/",
            "not a url",
        ] {
            assert!(o.check(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn the_allow_list_opens_hosts_addresses_networks_and_ports() {
        let o = policy("10.0.0.0/8, 127.0.0.1:9000 intranet.corp *.svc.corp");
        assert_eq!(o.check("https://10.20.30.40/"), Ok(()));
        assert_eq!(o.check("http://127.0.0.1:9000/hook"), Ok(()));
        assert!(o.check("http://127.0.0.1:9001/hook").is_err(), "another port");
        assert_eq!(o.check("https://intranet.corp/x"), Ok(()));
        assert_eq!(o.check("https://a.svc.corp/x"), Ok(()));
        assert_eq!(o.route("https://svc.corp/x"), Ok(Route::Guarded), "the bare suffix is not a subdomain");
        assert!(o.check("https://192.168.0.1/").is_err());
        assert!(OutboundPolicy::parse_list("http://x/").is_err());
        assert!(OutboundPolicy::parse_list("a..b").is_err());
        assert!(OutboundPolicy::parse_list("host:99999").is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused_when_used() {
        // "localhost.example." style names need DNS; a numeric host inside a name is resolved by the system
        // resolver without a network, which shows the guarded resolver's filter.
        let o = policy("");
        let resolver = GuardedResolver { policy: o.policy.clone() };
        let name: reqwest::dns::Name = "127.0.0.1".parse().expect("name");
        let err = reqwest::dns::Resolve::resolve(&resolver, name).await.err().expect("refused");
        assert!(err.to_string().contains("private"), "{err}");
        let open = GuardedResolver { policy: Arc::new(OutboundPolicy::parse_list("127.0.0.0/8").expect("list")) };
        let name: reqwest::dns::Name = "127.0.0.1".parse().expect("name");
        assert!(reqwest::dns::Resolve::resolve(&open, name).await.is_ok());
    }
}
