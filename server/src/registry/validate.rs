//! What the registry accepts: a [`Registration`] checked field by field into a
//! [`ValidRegistration`], or a short reason for the 400 answer. Since the registry calls
//! the URLs it is given, a `HeartbeatURL` or `ServiceUpdateURL` must be on the host of
//! its `ServiceURL`, and no URL may name a link-local or the unspecified address.

use std::{collections::BTreeMap, time::Duration};

use reqwest::Url;
use wire::registry::Registration;

/// Longest service name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The most required services one registration may list.
pub const MAX_REQUIRED: usize = 64;
/// Shortest and longest TTL accepted.
pub const TTL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// The most tags one registration may carry, and the longest tag, in characters.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_CHARS: usize = 64;
/// The most `Meta` pairs one registration may carry, the longest key and the longest
/// value, in characters: Consul's limits, so that what Consul takes, we take.
pub const MAX_META: usize = 64;
pub const MAX_META_KEY_CHARS: usize = 128;
pub const MAX_META_VALUE_CHARS: usize = 512;

/// A registration whose fields have all been checked. URLs and names are trimmed;
/// required services are de-duplicated, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRegistration {
    pub name: String,
    pub url: String,
    pub required: Vec<String>,
    pub update_url: Option<String>,
    pub heartbeat_url: Option<String>,
    pub ttl: Option<Duration>,
    /// Trimmed, de-duplicated, in order.
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
}

impl ValidRegistration {
    /// The registration as the wire shows it.
    pub fn to_wire(&self) -> Registration {
        Registration {
            service_name: self.name.clone(),
            service_url: self.url.clone(),
            required_services: self.required.clone(),
            service_update_url: self.update_url.clone().unwrap_or_default(),
            heartbeat_url: self.heartbeat_url.clone().unwrap_or_default(),
            ttl: self
                .ttl
                .map(|ttl| humantime::format_duration(ttl).to_string()),
            tags: self.tags.clone(),
            meta: self.meta.clone(),
        }
    }
}

/// Why the registry refuses a registration or an instance URL. Each says what to fix, and
/// [`crate::errors::report`] of it is the reason of the 400 answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("ServiceURL must not be empty")]
    EmptyUrl,
    #[error("RequiredServices lists more than {MAX_REQUIRED} services")]
    TooManyRequired,
    #[error("{field}: a service name {problem}")]
    Name {
        field: &'static str,
        problem: NameProblem,
    },
    #[error("{field} is longer than {MAX_URL_BYTES} bytes")]
    UrlTooLong { field: &'static str },
    #[error(
        "{field} must not contain control characters, nor invisible or direction-changing \
         ones: {shown:?}"
    )]
    UrlCharacters { field: &'static str, shown: String },
    #[error("{field} must be an absolute http(s) URL: {shown:?}")]
    UrlUnreadable {
        field: &'static str,
        shown: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{field} must be an absolute http(s) URL: {shown:?}")]
    NotHttp { field: &'static str, shown: String },
    #[error("{field} must not be {reason}: {shown:?}")]
    ForbiddenHost {
        field: &'static str,
        reason: &'static str,
        shown: String,
    },
    #[error(
        "{field} must be on the host of ServiceURL ({host}), as the registry calls it for \
         that instance: {shown:?}"
    )]
    OffHost {
        field: &'static str,
        host: String,
        shown: String,
    },
    #[error("TTL must be a duration such as \"10s\"")]
    TtlUnreadable {
        #[source]
        source: humantime::DurationError,
    },
    #[error(
        "TTL must be between {} and {}",
        humantime::format_duration(TTL_RANGE.0),
        humantime::format_duration(TTL_RANGE.1)
    )]
    TtlOutOfRange,
    #[error("give either HeartbeatURL or TTL, not both")]
    HeartbeatAndTtl,
    #[error("Tags lists more than {MAX_TAGS} tags")]
    TooManyTags,
    #[error(
        "Tags: a tag is 1 to {MAX_TAG_CHARS} characters, without commas, spaces, control, \
         invisible or direction-changing characters: {shown:?}"
    )]
    Tag { shown: String },
    #[error("Meta has more than {MAX_META} keys")]
    TooManyMeta,
    #[error(
        "Meta: a key is 1 to {MAX_META_KEY_CHARS} ASCII letters, digits, '_' or '-': {shown:?}"
    )]
    MetaKey { shown: String },
    #[error(
        "Meta: the value of {key:?} is at most {MAX_META_VALUE_CHARS} characters, without \
         control, invisible or direction-changing characters"
    )]
    MetaValue { key: String },
    #[error("Meta: {first:?} and {second:?} are one key to Prometheus, which writes '-' as '_'")]
    MetaKeysCollide { first: String, second: String },
}

/// What is wrong with a service name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("must not be empty")]
    Empty,
    #[error("is at most {MAX_NAME_CHARS} characters")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
    #[error(
        "must not contain invisible or direction-changing characters (such as U+200B or \
         U+202E), which would make it look like another"
    )]
    Hidden,
}

/// A refused registration is the client's to fix.
impl From<Invalid> for crate::http::ApiError {
    fn from(err: Invalid) -> crate::http::ApiError {
        crate::http::ApiError::bad_request(crate::errors::report(&err))
    }
}

/// The first 80 characters of `text`, as a refusal quotes it.
fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Checks every field of `reg`.
///
/// # Errors
/// Why the registration is refused, for a 400.
pub fn registration(reg: Registration) -> Result<ValidRegistration, Invalid> {
    let name = service_name("ServiceName", &reg.service_name)?;
    let url = instance_url(&reg.service_url)?;
    if reg.required_services.len() > MAX_REQUIRED {
        return Err(Invalid::TooManyRequired);
    }
    let mut required = Vec::with_capacity(reg.required_services.len());
    for dependency in &reg.required_services {
        let dependency = service_name("RequiredServices", dependency)?;
        if !required.contains(&dependency) {
            required.push(dependency);
        }
    }
    let update_url = optional_url("ServiceUpdateURL", &reg.service_update_url)?;
    let heartbeat_url = optional_url("HeartbeatURL", &reg.heartbeat_url)?;
    // The registry calls these two for whoever registered: on the instance's own host
    // (as the original's services always are), so a registration cannot aim the
    // registry's requests at another machine of its network.
    for (field, other) in [
        ("ServiceUpdateURL", &update_url),
        ("HeartbeatURL", &heartbeat_url),
    ] {
        if let Some(other) = other
            && host_of(other) != host_of(&url)
        {
            return Err(Invalid::OffHost {
                field,
                host: host_of(&url).unwrap_or_default(),
                shown: shown(other),
            });
        }
    }
    let ttl = match reg.ttl.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(ttl(text)?),
    };
    if ttl.is_some() && heartbeat_url.is_some() {
        return Err(Invalid::HeartbeatAndTtl);
    }
    Ok(ValidRegistration {
        name,
        url,
        required,
        update_url,
        heartbeat_url,
        ttl,
        tags: tags(&reg.tags)?,
        meta: meta(reg.meta)?,
    })
}

/// The tags, trimmed and de-duplicated in order. A tag is a word a tool matches exactly
/// (a DNS label, a Prometheus label value, a Consul `?tag=`), so it holds no spaces; nor
/// commas, which separate the tags in Prometheus' label (`,a,b,`), where a tag `x,a`
/// would pass for `a`.
fn tags(given: &[String]) -> Result<Vec<String>, Invalid> {
    if given.len() > MAX_TAGS {
        return Err(Invalid::TooManyTags);
    }
    let mut tags = Vec::with_capacity(given.len());
    for tag in given {
        let tag = tag.trim();
        let fine = (1..=MAX_TAG_CHARS).contains(&tag.chars().count())
            && !tag
                .chars()
                .any(|c| c == ',' || c.is_whitespace() || c.is_control() || is_hidden(c));
        if !fine {
            return Err(Invalid::Tag { shown: shown(tag) });
        }
        if !tags.iter().any(|known| known == tag) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

/// The metadata, each key as Consul allows one (and as a Prometheus label name holds it,
/// with '-' as '_'), each value shown as given.
fn meta(given: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Invalid> {
    if given.len() > MAX_META {
        return Err(Invalid::TooManyMeta);
    }
    for (key, value) in &given {
        let key_fine = (1..=MAX_META_KEY_CHARS).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_fine {
            return Err(Invalid::MetaKey { shown: shown(key) });
        }
        let label = key.replace('-', "_");
        if let Some(other) = given
            .keys()
            .find(|other| *other != key && other.replace('-', "_") == label)
        {
            return Err(Invalid::MetaKeysCollide {
                first: shown(other),
                second: shown(key),
            });
        }
        if value.chars().count() > MAX_META_VALUE_CHARS
            || value.chars().any(|c| c.is_control() || is_hidden(c))
        {
            return Err(Invalid::MetaValue { key: key.clone() });
        }
    }
    Ok(given)
}

/// The instance URL of a `DELETE` or `PUT /services` body.
///
/// # Errors
/// Why the text is not an absolute http(s) URL, for a 400.
pub fn instance_url(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::EmptyUrl);
    }
    http_url("ServiceURL", text)
}

fn service_name(field: &'static str, name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    let problem = if name.is_empty() {
        NameProblem::Empty
    } else if name.chars().count() > MAX_NAME_CHARS {
        NameProblem::TooLong
    } else if name.chars().any(char::is_control) {
        NameProblem::Control
    } else if name.chars().any(is_hidden) {
        NameProblem::Hidden
    } else {
        return Ok(name.to_owned());
    };
    Err(Invalid::Name { field, problem })
}

fn optional_url(field: &'static str, text: &str) -> Result<Option<String>, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else {
        http_url(field, text).map(Some)
    }
}

fn http_url(field: &'static str, text: &str) -> Result<String, Invalid> {
    if text.len() > MAX_URL_BYTES {
        return Err(Invalid::UrlTooLong { field });
    }
    // The URL parser drops tabs and newlines, and the registry logs and shows the text
    // as given: a control character would reach a terminal or forge a log line.
    if text.chars().any(|c| c.is_control() || is_hidden(c)) {
        return Err(Invalid::UrlCharacters {
            field,
            shown: shown(text),
        });
    }
    let url = Url::parse(text).map_err(|source| Invalid::UrlUnreadable {
        field,
        shown: shown(text),
        source,
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::NotHttp {
            field,
            shown: shown(text),
        });
    }
    if let Some(reason) = url.host().and_then(|host| forbidden_host(&host)) {
        return Err(Invalid::ForbiddenHost {
            field,
            reason,
            shown: shown(text),
        });
    }
    Ok(text.to_owned())
}

/// Whether `c` is a format character that shows nothing or reorders the text around it
/// (Unicode's Cf category: zero-width spaces, bidirectional overrides and isolates, tags,
/// the byte-order mark), so that a name holding one looks like another on a page or in
/// a log. The zero-width joiners, which some scripts need to spell words, are allowed.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}')
}

/// The host of an already checked URL, lowercased as the URL parser has it.
fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// Why the registry must never call `host`, if it must not: a link-local address (where
/// clouds serve their instance metadata and credentials) or the unspecified address
/// (which reaches the registry's own machine on every port), in IPv4, IPv6 or IPv4
/// mapped into IPv6.
pub fn forbidden_host(host: &url::Host<&str>) -> Option<&'static str> {
    match host {
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => forbidden_ip(std::net::IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => forbidden_ip(std::net::IpAddr::V6(*ip)),
    }
}

/// Why the registry must never connect to `ip`, if it must not (see [`forbidden_host`]);
/// the registry's client checks every address a name resolves to with it too.
pub fn forbidden_ip(ip: std::net::IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        ip if ip.is_unspecified() => Some("the unspecified address"),
        std::net::IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        std::net::IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local address"),
        _ => None,
    }
}

fn ttl(text: &str) -> Result<Duration, Invalid> {
    let ttl =
        humantime::parse_duration(text).map_err(|source| Invalid::TtlUnreadable { source })?;
    let (min, max) = TTL_RANGE;
    if ttl < min || ttl > max {
        return Err(Invalid::TtlOutOfRange);
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, url: &str) -> Registration {
        Registration {
            service_name: name.into(),
            service_url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_seed_registration_is_valid() {
        let valid = registration(reg("Test Service", "http://localhost:5000")).unwrap();
        assert_eq!(valid.name, "Test Service");
        assert_eq!(valid.update_url, None);
        assert_eq!(valid.heartbeat_url, None);
    }

    #[test]
    fn names_and_urls_are_checked() {
        let cases = [
            (reg("", "http://a"), "must not be empty"),
            (reg(&"x".repeat(MAX_NAME_CHARS + 1), "http://a"), "at most"),
            (reg("a\u{7}", "http://a"), "control characters"),
            (reg("GradingService\u{200b}", "http://a"), "invisible"),
            (reg("\u{202e}ecivreS", "http://a"), "direction-changing"),
            (reg("a", "http://a/\u{2066}x"), "invisible"),
            (reg("a", ""), "ServiceURL must not be empty"),
            (reg("a", "/relative"), "absolute"),
            (reg("a", "ftp://host/x"), "absolute http(s)"),
            (reg("a", "mailto:x@y"), "absolute http(s)"),
            (
                reg("a", &format!("http://a/{}", "x".repeat(MAX_URL_BYTES))),
                "longer than",
            ),
            (
                reg("a", "http://a/\nINFO forged line"),
                "control characters",
            ),
            (reg("a", "http://a\t.example/"), "control characters"),
            (reg("a", "http://a/\u{1b}[31m"), "control characters"),
            (reg("a", "http://a/\u{85}x"), "control characters"),
            (reg("a", "http://169.254.169.254/"), "link-local"),
            (reg("a", "http://[fe80::1]:80/"), "link-local"),
            (reg("a", "http://[::ffff:169.254.1.1]/"), "link-local"),
            (reg("a", "http://0.0.0.0:3000"), "unspecified"),
            (reg("a", "http://0:3000"), "unspecified"),
            (reg("a", "http://[::]:3000"), "unspecified"),
        ];
        for (input, reason) in cases {
            let err = crate::errors::report(&registration(input.clone()).unwrap_err());
            assert!(err.contains(reason), "{input:?}: {err}");
        }
    }

    #[test]
    fn optional_urls_ttl_and_required_services_are_checked() {
        let mut r = reg("a", "http://a");
        r.heartbeat_url = "nope".into();
        assert!(
            registration(r)
                .unwrap_err()
                .to_string()
                .starts_with("HeartbeatURL")
        );

        let mut r = reg("a", "http://a");
        r.ttl = Some("0.5s".into());
        assert!(registration(r).unwrap_err().to_string().contains("between"));
        let mut r = reg("a", "http://a");
        r.ttl = Some("soon".into());
        assert!(registration(r).unwrap_err().to_string().starts_with("TTL"));
        let mut r = reg("a", "http://a");
        r.ttl = Some("10s".into());
        r.heartbeat_url = "http://a/hb".into();
        assert!(
            registration(r)
                .unwrap_err()
                .to_string()
                .contains("not both")
        );

        // The registry's calls stay on the instance's own host, any port.
        let mut r = reg("a", "http://Host.example:5000/x");
        r.heartbeat_url = "http://host.example:5001/heartbeat".into();
        r.service_update_url = "http://HOST.example/services".into();
        assert!(registration(r).is_ok());
        for field in ["HeartbeatURL", "ServiceUpdateURL"] {
            for elsewhere in [
                "http://10.0.0.5:80/admin",
                "http://169.254.169.254/latest/meta-data/",
                "http://host.example.evil:5000/",
            ] {
                let mut r = reg("a", "http://host.example:5000");
                if field == "HeartbeatURL" {
                    r.heartbeat_url = elsewhere.into();
                } else {
                    r.service_update_url = elsewhere.into();
                }
                let err = registration(r).unwrap_err().to_string();
                assert!(err.starts_with(field), "{elsewhere}: {err}");
            }
        }

        let mut r = reg("a", "http://a");
        r.required_services = vec!["B".into(), " B ".into(), "C".into()];
        assert_eq!(registration(r).unwrap().required, vec!["B", "C"]);
        let mut r = reg("a", "http://a");
        r.required_services = vec![String::new()];
        assert!(
            registration(r)
                .unwrap_err()
                .to_string()
                .starts_with("RequiredServices")
        );
    }

    #[test]
    fn tags_and_meta_are_checked_and_kept() {
        let mut r = reg("a", "http://a");
        r.tags = vec![" primary ".into(), "v2".into(), "primary".into()];
        r.meta = [
            ("version".into(), "2.1 (blue)".into()),
            ("zone-a_1".into(), String::new()),
        ]
        .into();
        let valid = registration(r.clone()).unwrap();
        assert_eq!(valid.tags, ["primary", "v2"]);
        assert_eq!(valid.meta, r.meta);
        assert_eq!(valid.to_wire().tags, ["primary", "v2"]);

        let refused = |change: &dyn Fn(&mut Registration)| {
            let mut r = reg("a", "http://a");
            change(&mut r);
            crate::errors::report(&registration(r).unwrap_err())
        };
        assert!(refused(&|r| r.tags = vec!["two words".into()]).starts_with("Tags: a tag"));
        assert!(refused(&|r| r.tags = vec!["x,primary".into()]).contains("without commas"));
        assert!(
            refused(&|r| r.meta = [("a-b".into(), "1".into()), ("a_b".into(), "2".into())].into())
                .contains("one key to Prometheus")
        );
        assert!(refused(&|r| r.tags = vec![String::new()]).starts_with("Tags: a tag"));
        assert!(refused(&|r| r.tags = vec!["x".repeat(MAX_TAG_CHARS + 1)]).starts_with("Tags"));
        assert!(refused(&|r| r.tags = vec!["a\u{202e}b".into()]).starts_with("Tags"));
        assert!(
            refused(&|r| r.tags = (0..=MAX_TAGS).map(|n| n.to_string()).collect())
                .contains("more than 32")
        );
        assert!(
            refused(&|r| r.meta = [("a.b".into(), "x".into())].into()).contains("letters, digits")
        );
        assert!(refused(&|r| r.meta = [(String::new(), "x".into())].into()).starts_with("Meta"));
        assert!(
            refused(&|r| r.meta = [("k".into(), "line\nforged".into())].into())
                .contains("value of \"k\"")
        );
        assert!(
            refused(&|r| {
                r.meta = (0..=MAX_META)
                    .map(|n| (format!("k{n}"), String::new()))
                    .collect()
            })
            .contains("more than 64")
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn a_registration_is_taken_exactly_when_every_field_is_valid(
                service_name in any::<String>(),
                service_url in prop_oneof![any::<String>(), "https?://[a-z0-9.:-]{0,30}(/.{0,20})?"],
                required_services in prop::collection::vec(any::<String>(), 0..80),
                heartbeat_url in any::<String>(),
                ttl in prop::option::of(prop_oneof![any::<String>(), "[0-9]{1,4}(ms|s|m|h)"]),
                tags in prop::collection::vec(prop_oneof![any::<String>(), " ?[a-z0-9:=.]{0,10} ?"], 0..40),
                meta in prop::collection::btree_map(
                    prop_oneof![any::<String>(), "[a-zA-Z0-9_-]{0,10}"],
                    prop_oneof![any::<String>(), "[ -~]{0,20}"],
                    0..70,
                ),
            ) {
                let reg = Registration { service_name, service_url, required_services, service_update_url: String::new(), heartbeat_url, ttl, tags, meta };
                // A model of the rules, field by field, against what the check decides.
                let name_ok = |name: &str| {
                    let name = name.trim();
                    !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS && !name.chars().any(|c| c.is_control() || is_hidden(c))
                };
                let url_ok = |url: &str| {
                    let url = url.trim();
                    url.len() <= MAX_URL_BYTES
                        && !url.chars().any(|c| c.is_control() || is_hidden(c))
                        && Url::parse(url).is_ok_and(|u| {
                            matches!(u.scheme(), "http" | "https")
                                && u.host_str().is_some_and(|h| !h.is_empty())
                                && u.host().is_some_and(|h| forbidden_host(&h).is_none())
                        })
                };
                let host = |url: &str| Url::parse(url.trim()).ok().and_then(|u| u.host_str().map(str::to_owned));
                let ttl = reg.ttl.as_deref().map(str::trim).filter(|t| !t.is_empty());
                let ttl_ok = ttl.is_none_or(|t| humantime::parse_duration(t).is_ok_and(|d| d >= TTL_RANGE.0 && d <= TTL_RANGE.1));
                let heartbeat = reg.heartbeat_url.trim();
                let expected = name_ok(&reg.service_name)
                    && !reg.service_url.trim().is_empty()
                    && url_ok(&reg.service_url)
                    && reg.required_services.len() <= MAX_REQUIRED
                    && reg.required_services.iter().all(|r| name_ok(r))
                    && (heartbeat.is_empty() || (url_ok(heartbeat) && host(heartbeat) == host(&reg.service_url)))
                    && ttl_ok
                    && (ttl.is_none() || heartbeat.is_empty())
                    && reg.tags.len() <= MAX_TAGS
                    && reg.tags.iter().all(|t| {
                        let t = t.trim();
                        !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS
                            && !t.chars().any(|c| c == ',' || c.is_whitespace() || c.is_control() || is_hidden(c))
                    })
                    && reg.meta.len() <= MAX_META
                    && reg.meta.iter().all(|(k, v)| {
                        !k.is_empty() && k.len() <= MAX_META_KEY_CHARS
                            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                            && v.chars().count() <= MAX_META_VALUE_CHARS
                            && !v.chars().any(|c| c.is_control() || is_hidden(c))
                    })
                    && {
                        let mut labels = std::collections::HashSet::new();
                        reg.meta.keys().all(|k| labels.insert(k.replace('-', "_")))
                    };
                let checked = registration(reg.clone());
                prop_assert_eq!(checked.is_ok(), expected, "{:?} → {:?}", reg, checked);
                if let Ok(valid) = checked {
                    prop_assert_eq!(&valid.name, reg.service_name.trim());
                    prop_assert_eq!(&valid.url, reg.service_url.trim());
                    let mut distinct: Vec<&str> = Vec::new();
                    for r in &reg.required_services {
                        if !distinct.contains(&r.trim()) {
                            distinct.push(r.trim());
                        }
                    }
                    prop_assert_eq!(valid.required.iter().map(String::as_str).collect::<Vec<_>>(), distinct);
                    let mut tags: Vec<&str> = Vec::new();
                    for t in &reg.tags {
                        if !tags.contains(&t.trim()) {
                            tags.push(t.trim());
                        }
                    }
                    prop_assert_eq!(valid.tags.iter().map(String::as_str).collect::<Vec<_>>(), tags);
                    prop_assert_eq!(&valid.meta, &reg.meta);
                }
            }
        }
    }
}
