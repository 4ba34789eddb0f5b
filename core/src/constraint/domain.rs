//! Hosts of URLs, e-mail addresses and host names, for `allowed_domains` / `denied_domains`.
//!
//! A payload value is read as:
//! - a URL when it contains `://` (parsed with the WHATWG `url` crate, so
//!   `https://good.com@evil.com` has the host `evil.com` and `https://good.com\@evil.com` the host
//!   `good.com`, as a browser would fetch);
//! - otherwise as what follows `http://`: a bare host (`api.example.com`, `example.com:8080/x`)
//!   or an e-mail address (the host is after the last `@`).
//!
//! Domains are compared in lowercase ASCII (IDNA), trailing dots stripped; IPv4 addresses in any
//! form the URL standard accepts (`0x7f.1`) are normalised, IPv4-mapped IPv6 addresses are read as
//! IPv4. A listed domain `d` matches the host `d` and every subdomain `*.d`, never `evild.com`;
//! a listed IP address matches only itself.

use std::fmt;
use std::net::IpAddr;

use serde_json::Value;
use url::{Host, Url};

/// A normalised host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A domain name, lowercase ASCII, without trailing dots.
    Domain(String),
    /// An IP address (IPv4-mapped IPv6 addresses as IPv4).
    Ip(IpAddr),
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Domain(d) => f.write_str(d),
            HostName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl HostName {
    fn from_host(h: Host<&str>) -> Result<HostName, String> {
        match h {
            Host::Domain(d) => {
                // Non-special schemes leave hosts opaque (percent-encoded, mixed case): normalise
                // them as a browser would a special one.
                let parsed = Host::parse(d).map_err(|e| format!("host {d:?} is invalid: {e}"))?;
                match parsed {
                    Host::Domain(d) => domain(&d),
                    Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
                    Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
                }
            }
            Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
            Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
        }
    }

    /// Whether this host is `listed` or, for domains, a subdomain of it.
    pub fn is_within(&self, listed: &HostName) -> bool {
        match (self, listed) {
            (HostName::Domain(h), HostName::Domain(d)) => {
                h == d
                    || (h.len() > d.len()
                        && h.ends_with(d.as_str())
                        && h.as_bytes().get(h.len() - d.len() - 1) == Some(&b'.'))
            }
            (HostName::Ip(a), HostName::Ip(b)) => a == b,
            _ => false,
        }
    }
}

fn domain(d: &str) -> Result<HostName, String> {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() {
        return Err("has no host".to_string());
    }
    Ok(HostName::Domain(d))
}

fn ip_name(ip: IpAddr) -> HostName {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => HostName::Ip(IpAddr::V4(v4)),
            None => HostName::Ip(ip),
        },
        v4 => HostName::Ip(v4),
    }
}

/// The host of a payload string (see the module documentation), or why there is none.
pub fn host_of(s: &str) -> Result<HostName, String> {
    let url = if s.contains("://") {
        Url::parse(s)
    } else {
        Url::parse(&format!("http://{s}"))
    }
    .map_err(|e| format!("is not a URL, e-mail or host ({e})"))?;
    match url.host() {
        Some(h) => HostName::from_host(h),
        None => Err("has no host".to_string()),
    }
}

/// A compiled list of domains from a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainList {
    entries: Vec<HostName>,
}

impl DomainList {
    /// Normalises each listed domain (lowercase, IDNA, no trailing dot; IP addresses, IPv6 with or
    /// without brackets). On failure, the index of the bad entry and why.
    pub fn compile(list: &[Value]) -> Result<DomainList, (usize, String)> {
        let mut entries = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let s = v.as_str().ok_or((i, "must be a string".to_string()))?;
            entries.push(listed(s).map_err(|m| (i, m))?);
        }
        Ok(DomainList { entries })
    }

    /// The first listed entry `host` is within.
    pub fn matching(&self, host: &HostName) -> Option<&HostName> {
        self.entries.iter().find(|d| host.is_within(d))
    }

    /// The normalised entries.
    pub fn entries(&self) -> &[HostName] {
        &self.entries
    }
}

fn listed(s: &str) -> Result<HostName, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip_name(ip));
    }
    if s.contains(['*', '/', '@', ':', '?', '#', '\\']) || s.chars().any(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not a domain (write the bare domain; subdomains are included)"
        ));
    }
    let host = Host::parse(s).map_err(|e| format!("{s:?} is not a valid domain: {e}"))?;
    match host {
        Host::Domain(d) => domain(&d).map_err(|_| format!("{s:?} is not a valid domain")),
        Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> String {
        host_of(s)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn hosts_of_urls_emails_and_names() {
        assert_eq!(host("https://Good.COM./x"), "good.com");
        assert_eq!(host("https://good.com@evil.com/"), "evil.com");
        assert_eq!(host("https://good.com\\@evil.com/"), "good.com");
        assert_eq!(host("alice@Example.org"), "example.org");
        assert_eq!(host("a@b@c.com"), "c.com");
        assert_eq!(host("mailto:bob@x.io"), "x.io");
        assert_eq!(host("example.com:8080/path"), "example.com");
        assert_eq!(host("evil.com/a@good.com"), "evil.com");
        assert_eq!(host("http://0x7f.1/"), "127.0.0.1");
        assert_eq!(host("http://[::ffff:127.0.0.1]/"), "127.0.0.1");
        assert_eq!(host("http://[::1]:80/"), "::1");
        assert_eq!(host("git://EXAMPLE.com/repo"), "example.com");
        assert!(host("file:///etc/passwd").starts_with("ERR"));
        assert!(host("javascript:alert(1)").starts_with("ERR"));
        assert!(host("").starts_with("ERR"));
    }

    #[test]
    fn subdomains_but_not_suffixes() {
        let list = DomainList::compile(&[Value::from("Example.com."), Value::from("::1")]).unwrap();
        let m = |s: &str| list.matching(&host_of(s).unwrap()).is_some();
        assert!(m("https://example.com"));
        assert!(m("https://api.example.com"));
        assert!(!m("https://evilexample.com"));
        assert!(!m("https://example.com.evil.net"));
        assert!(m("http://[::1]/"));
        assert!(DomainList::compile(&[Value::from("*.example.com")]).is_err());
        assert!(DomainList::compile(&[Value::from("https://example.com")]).is_err());
        assert!(DomainList::compile(&[Value::from("[::1]")]).is_ok());
    }
}
